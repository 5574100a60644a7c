"""The pages' own words in Kazakh, Russian and English.

Titles of algorithms, states, triggers, task kinds and fields come from the definitions; regions
and bodies from the directory. This file holds only the words of the pages themselves, and the
titles of enum values and body types, which the definitions and the directory do not give
(`value_title`, `body_type_title`; their words are in `value_words`).
"""
from __future__ import annotations

from .value_words import BODY_TYPES, VALUES

LANGUAGES = ("kk", "ru", "en")
DEFAULT_LANGUAGE = "ru"
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

# key -> (kk, ru, en)
_WORDS: dict[str, tuple[str, str, str]] = {
    "app.name": ("Qorgau", "Qorgau", "Qorgau"),
    "app.tagline": ("Балаларды қорғаудың ведомствоаралық алгоритмдері",
                    "Межведомственные алгоритмы защиты детей",
                    "Interagency child-protection algorithms"),
    "scroll.table": ("Кесте (көлденең айналдыруға болады)", "Таблица (прокручивается по горизонтали)",
                     "Table (scrolls sideways)"),
    "skip": ("Негізгі мазмұнға өту", "Перейти к содержанию", "Skip to content"),
    "nav.main": ("Негізгі мәзір", "Главное меню", "Main menu"),
    "nav.inbox": ("Тапсырмалар", "Входящие задачи", "Inbox"),
    "nav.dashboard": ("Үйлестіруші тақтасы", "Панель координатора", "Dashboard"),
    "nav.cases": ("Істер", "Случаи", "Cases"),
    "nav.map": ("Тәуекел картасы", "Карта рисков", "Risk map"),
    "nav.audit": ("Аудит", "Аудит", "Audit"),
    "nav.language": ("Тіл", "Язык", "Language"),
    "signout": ("Шығу", "Выйти", "Sign out"),
    "signed_in_as": ("Жүйеге кірген:", "Вы вошли как", "Signed in as"),
    "role.coordinator": ("үйлестіруші", "координатор", "coordinator"),
    "role.agency": ("орган", "ведомство", "agency"),
    "role.auditor": ("аудитор", "аудитор", "auditor"),
    "role.admin": ("әкімші", "администратор", "administrator"),
    # sign-in
    "login.title": ("Кіру", "Вход", "Sign in"),
    "login.token": ("Қол жеткізу токені", "Токен доступа", "Access token"),
    "login.token_help": ("API үшін берілген токен. Ол сақталмайды: кіргеннен кейін сессия cookie қолданылады.",
                         "Токен, выданный для API. Он не сохраняется: после входа работает сессионный cookie.",
                         "The token issued for the API. It is not kept: after sign-in a session cookie is used."),
    "login.submit": ("Кіру", "Войти", "Sign in"),
    "login.oidc": ("Ұйымның есептік жазбасымен кіру", "Войти с учётной записью организации",
                   "Sign in with your organisation's account"),
    "login.oidc_help": ("Кіру ұйымыңыздың сәйкестендіру қызметі арқылы өтеді; Qorgau құпиясөзіңізді көрмейді.",
                        "Вход выполняется через службу идентификации вашей организации; Qorgau не видит ваш пароль.",
                        "You sign in at your organisation's identity service; Qorgau never sees your password."),
    "login.token_title": ("Немесе қызметтік токенмен", "Или служебным токеном", "Or with a service token"),
    "continue.title": ("Сіз кірдіңіз", "Вы вошли в систему", "You are signed in"),
    "continue.link": ("Жалғастыру", "Продолжить", "Continue"),
    "signed_out.title": ("Сіз Qorgau-дан шықтыңыз", "Вы вышли из Qorgau", "You have signed out of Qorgau"),
    "signed_out.provider": ("Енді сәйкестендіру қызметінің сессиясы да аяқталады.",
                            "Теперь завершается и сеанс в службе идентификации.",
                            "Now your session at the identity service ends too."),
    "signed_out.link": ("Сәйкестендіру қызметінен шығу", "Выйти из службы идентификации",
                        "Sign out of the identity service"),
    "oidc.unavailable": ("Сәйкестендіру қызметі жауап бермейді. Кейінірек қайталаңыз.",
                         "Служба идентификации не отвечает. Повторите попытку позже.",
                         "The identity service does not answer. Try again later."),
    "oidc.stale": ("Кіру сұрауы ескірген немесе басқа браузерден келген. Қайта кіріңіз.",
                   "Запрос на вход устарел или пришёл из другого браузера. Войдите заново.",
                   "This sign-in request is stale or came from another browser. Sign in again."),
    "oidc.denied": ("Сәйкестендіру қызметі кіруді растамады.", "Служба идентификации не подтвердила вход.",
                    "The identity service did not confirm the sign-in."),
    "oidc.refused": ("Сәйкестендіру қызметінің жауабы тексеруден өтпеді; кіру қабылданбады.",
                     "Ответ службы идентификации не прошёл проверку; вход отклонён.",
                     "The identity service's answer failed its checks; the sign-in is refused."),
    "oidc.no_access": ("Есептік жазбаңызға Qorgau-да ешбір орган мен рөл берілмеген (немесе ол өшірілген). "
                       "Әкімшіге хабарласыңыз.",
                       "Вашей учётной записи в Qorgau не назначены ни орган, ни роль (или она отключена). "
                       "Обратитесь к администратору.",
                       "Your account is given no body and no role in Qorgau (or it is deactivated). "
                       "Ask your administrator."),
    "login.failed": ("Токен танылмады немесе кері қайтарып алынған.", "Токен не распознан или отозван.",
                     "The token is not recognised or has been revoked."),
    "login.required": ("Жалғастыру үшін кіріңіз.", "Войдите, чтобы продолжить.", "Sign in to continue."),
    # errors
    "error.title": ("Қате", "Ошибка", "Error"),
    "error.forbidden": ("Бұл бетке қол жеткізу құқығыңыз жоқ.", "У вас нет доступа к этой странице.",
                        "You may not see this page."),
    "error.not_found": ("Бет табылмады.", "Страница не найдена.", "Page not found."),
    "error.csrf": ("Форма ескірген немесе басқа сайттан жіберілген (CSRF). Бетті жаңартып, қайталаңыз.",
                   "Форма устарела или отправлена с другого сайта (CSRF). Обновите страницу и повторите.",
                   "The form is stale or was sent from another site (CSRF). Reload the page and try again."),
    "error.read_only": ("Аудитор деректерді тек оқи алады.", "Аудитор может только читать данные.",
                        "An auditor may only read data."),
    "error.back": ("Басты бетке", "На главную", "Home"),
    # inbox
    "inbox.title": ("Ұйымымның тапсырмалары", "Задачи моего ведомства", "My body's tasks"),
    "inbox.lead": ("Мерзімі өткендері алдымен, содан кейін мерзімі жақындары. Уақыт — Астана уақыты.",
                   "Сначала просроченные, затем ближайшие по сроку. Время — время Астаны.",
                   "Overdue first, then soonest due. Times are Astana time."),
    "inbox.empty": ("Ашық тапсырма жоқ.", "Открытых задач нет.", "No open tasks."),
    "inbox.count": ("Ашық тапсырмалар", "Открытых задач", "Open tasks"),
    "inbox.overdue_count": ("мерзімі өткен", "просрочено", "overdue"),
    "col.task": ("Тапсырма", "Задача", "Task"),
    "col.case": ("Іс", "Случай", "Case"),
    "col.algorithm": ("Алгоритм", "Алгоритм", "Algorithm"),
    "col.state": ("Күйі", "Статус", "Status"),
    "col.due": ("Мерзімі", "Срок", "Due"),
    "col.left": ("Қалды / кешігу", "Осталось / просрочка", "Left / late"),
    "col.level": ("Эскалация", "Эскалация", "Escalation"),
    "col.body": ("Орган", "Ведомство", "Body"),
    "col.region": ("Өңір", "Регион", "Region"),
    "col.opened": ("Ашылды", "Открыт", "Opened"),
    "col.updated": ("Өзгерді", "Изменён", "Updated"),
    "col.action": ("Әрекет", "Действие", "Action"),
    "open_form": ("Орындау", "Выполнить", "Act"),
    "overdue": ("мерзімі өтті", "просрочено", "overdue"),
    "critical": ("сыни", "критический", "critical"),
    "urgent": ("шұғыл", "срочно", "urgent"),
    "level.0": ("жоқ", "нет", "none"),
    "level.1": ("мерзімі өтті", "просрочка", "overdue"),
    "level.2": ("жоғары тұрған органға", "вышестоящему органу", "escalated to the parent"),
    "level.3": ("сыни", "критическая", "critical"),
    # task form
    "task.title": ("Тапсырманы орындау", "Выполнение задачи", "Act on a task"),
    "task.choose": ("Шешімді таңдаңыз", "Выберите действие", "Choose the action"),
    "task.no_trigger": ("Бұл тапсырманы қазір сіздің органыңыз жаба алмайды.",
                        "Сейчас ваше ведомство не может закрыть эту задачу.",
                        "Your body cannot complete this task now."),
    "task.closed": ("Бұл тапсырма жабық.", "Эта задача уже закрыта.", "This task is closed."),
    "form.submit": ("Жіберу", "Отправить", "Submit"),
    "form.required": ("міндетті", "обязательно", "required"),
    "form.required_missing": ("Бұл өрісті толтырыңыз.", "Заполните это поле.", "Fill in this field."),
    "form.not_int": ("Бүтін сан енгізіңіз.", "Введите целое число.", "Enter a whole number."),
    "form.not_date": ("Күнді ЖЖЖЖ-АА-КК түрінде енгізіңіз.", "Введите дату в виде ГГГГ-ММ-ДД.",
                      "Enter a date as YYYY-MM-DD."),
    "form.not_datetime": ("Күні мен уақытын ЖЖЖЖ-АА-КК СС:ММ түрінде енгізіңіз (Астана уақыты).",
                          "Введите дату и время в виде ГГГГ-ММ-ДД ЧЧ:ММ (время Астаны).",
                          "Enter the date and time as YYYY-MM-DD HH:MM (Astana time)."),
    "form.datetime_help": ("Астана уақыты бойынша (UTC+5).", "По времени Астаны (UTC+5).", "Astana time (UTC+5)."),
    "form.invalid": ("Өріс қабылданбады", "Поле не принято", "Field refused"),
    "form.errors": ("Форма қабылданбады: қателер өрістердің жанында көрсетілген.",
                    "Форма не принята: ошибки показаны у полей.",
                    "The form was not accepted: the errors are shown beside the fields."),
    "form.rejected": ("Әрекет қабылданбады", "Действие отклонено", "The action was refused"),
    "form.conflict": ("Бет ашылғаннан кейін іс өзгерді. Өзгерістерді көру үшін бетті қайта жүктеңіз.",
                      "Случай изменился после того, как страница была открыта. Обновите страницу, чтобы увидеть изменения.",
                      "The case has changed since this page was read. Reload to see where it stands now."),
    "form.reload": ("Қайта жүктеу", "Обновить", "Reload"),
    "form.yes": ("Иә", "Да", "Yes"),
    "form.no": ("Жоқ", "Нет", "No"),
    "form.not_set": ("Көрсетілмеген", "Не указано", "Not given"),
    "form.choose": ("— таңдаңыз —", "— выберите —", "— choose —"),
    "form.list_help": ("Әр жолға бір элемент.", "По одному пункту в строке.", "One item per line."),
    "form.row": ("Жол", "Строка", "Row"),
    "form.child": ("Бала туралы жеке деректер (шифрланып сақталады, тарихқа түспейді)",
                   "Персональные данные ребёнка (хранятся зашифрованными, в историю не попадают)",
                   "The child's personal data (kept encrypted, never in the history)"),
    "child.birth_date": ("Туған күні", "Дата рождения", "Birth date"),
    "child.sex": ("Жынысы", "Пол", "Sex"),
    "child.sex.female": ("Қыз", "Женский", "Female"),
    "child.sex.male": ("Ұл", "Мужской", "Male"),
    "child.iin": ("ЖСН", "ИИН", "IIN"),
    "child.given_name": ("Аты", "Имя", "Given name"),
    "child.family_name": ("Тегі", "Фамилия", "Family name"),
    "child.address": ("Мекенжайы", "Адрес", "Address"),
    "fired": ("Әрекет тіркелді. Істің жаңа күйі:", "Действие записано. Новый статус случая:",
              "Done. The case's status is now:"),
    "launched": ("Іс ашылды:", "Случай открыт:", "Case opened:"),
    # case page
    "case.title": ("Іс", "Случай", "Case"),
    "case.state": ("Күйі", "Статус", "Status"),
    "case.outcome": ("Нәтижесі", "Итог", "Outcome"),
    "case.region": ("Өңір", "Регион", "Region"),
    "case.version": ("Оқиғалар саны", "Число событий", "Events"),
    "case.level": ("Эскалация деңгейі", "Уровень эскалации", "Escalation level"),
    "case.bound": ("Бекітілген органдар", "Закреплённые ведомства", "Bound bodies"),
    "case.open_tasks": ("Ашық тапсырмалар", "Открытые задачи", "Open tasks"),
    "case.done_tasks": ("Жабылған тапсырмалар", "Закрытые задачи", "Closed tasks"),
    "case.no_tasks": ("Жоқ.", "Нет.", "None."),
    "case.timeline": ("Оқиғалар тізбегі", "Хронология событий", "Timeline"),
    "case.diagram": ("Алгоритм сызбасы", "Схема алгоритма", "The algorithm's diagram"),
    "case.diagram_text": ("Алгоритм күйлері (ағымдағысы белгіленген):", "Статусы алгоритма (текущий отмечен):",
                          "The algorithm's statuses (the current one marked):"),
    "case.current": ("ағымдағы", "текущий", "current"),
    "case.replay": ("Қайта ойнату", "Воспроизведение", "Replay"),
    "case.replay_help": ("Сәтті таңдаңыз: бет іс сол кездегідей көрсетіледі.",
                         "Выберите момент: страница покажет случай таким, каким он был тогда.",
                         "Pick a moment: the page shows the case as it stood then."),
    "case.replay_at": ("Сәт", "Момент", "Moment"),
    "case.replay_show": ("Көрсету", "Показать", "Show"),
    "case.replay_now": ("Қазіргі сәтке оралу", "Вернуться к текущему моменту", "Back to now"),
    "case.replaying": ("Іс мына сәттегідей көрсетілген:", "Случай показан по состоянию на",
                       "The case as it stood at"),
    "case.verified": ("Тарих тексерілді: тізбек бүтін", "История проверена: цепочка цела",
                      "History verifies: the chain holds"),
    "case.not_verified": ("Тарих тексеруден өтпеді", "История не прошла проверку", "History does not verify"),
    "case.first_divergence": ("Алғашқы алшақтық", "Первое расхождение", "First divergence"),
    "case.event": ("Оқиға", "Событие", "Event"),
    "case.who": ("Кім", "Кто", "Who"),
    "case.when": ("Қашан", "Когда", "When"),
    "case.trigger": ("Әрекет", "Действие", "Action"),
    "case.transition": ("Ауысу", "Переход", "Transition"),
    "case.effects": ("Салдары", "Последствия", "Effects"),
    "case.system": ("Жүйе", "Система", "System"),
    "case.linked": ("Байланысты істер", "Связанные случаи", "Linked cases"),
    "case.critical_flag": ("Іс сыни деп белгіленген", "Случай отмечен как критический", "The case is flagged critical"),
    "case.zone": ("Астана уақыты", "время Астаны", "Astana time"),
    # V2 duty to report: a case launched more than 24 hours after the harm was detected
    "reported_late": ("Кешіктіріп хабарланды", "Сообщено с опозданием", "Reported late"),
    "fx.opened": ("ашылды", "открыта", "opened"),
    "fx.done": ("орындалды", "выполнена", "done"),
    "fx.cancelled": ("тоқтатылды", "прекращена", "cancelled"),
    "fx.notified": ("хабарламалар", "уведомлений", "notifications"),
    "fx.spawned": ("жаңа іс", "новый случай", "new case"),
    "fx.transferred": ("басқа өңірге берілді", "передан в другой регион", "transferred to"),
    "fx.critical": ("сыни деп белгіленді", "отмечен как критический", "flagged critical"),
    "fx.overdue": ("мерзімі өтті", "просрочена", "overdue"),
    "fx.ensure": ("орындалуын қамтамасыз ету", "обеспечить исполнение", "ensure completion"),
    "fx.outcome": ("нәтиже", "итог", "outcome"),
    "step.launch": ("Іс ашылды", "Случай открыт", "Case opened"),
    "step.reminder": ("Еске салу", "Напоминание", "Reminder"),
    "step.overdue": ("Мерзімі өтті", "Срок истёк", "Overdue"),
    "step.escalation": ("Жоғары тұрған органға эскалация", "Эскалация вышестоящему органу", "Escalated to the parent body"),
    "step.critical": ("Сыни эскалация", "Критическая эскалация", "Critical escalation"),
    "step.timer": ("Таймер", "Таймер", "Timer"),
    "step.linked": ("Басқа іспен байланыстырылды", "Связан с другим случаем", "Linked with another case"),
    "task.ensure_completion": ("Орындалуын қамтамасыз ету", "Обеспечить исполнение", "Ensure completion"),
    "task.accept_transfer": ("Берілген істі қабылдау", "Принять переданный случай", "Accept the transferred case"),
    "personal.purpose": ("Мақсаты (қол жеткізу журналына жазылады)", "Цель (записывается в журнал доступа)",
                         "Purpose (recorded in the access log)"),
    "personal.note": ("Түсініктеме (міндетті емес)", "Примечание (необязательно)", "Note (optional)"),
    "personal.note_help": ("Баланың аты-жөні мен ЖСН-ін жазбаңыз.", "Не указывайте имя и ИИН ребёнка.",
                           "Do not write the child's name or IIN."),
    "purpose.assessment": ("Баланың жағдайын бағалау", "Оценка положения ребёнка", "Assess the child's situation"),
    "purpose.interview": ("Баламен немесе отбасымен сұхбат", "Беседа с ребёнком или семьёй",
                          "Interview the child or the family"),
    "purpose.home_visit": ("Үйге бару", "Посещение на дому", "Visit the child's home"),
    "purpose.medical_examination": ("Медициналық тексеру", "Медицинское обследование", "Medical examination"),
    "purpose.psychological_support": ("Психологиялық көмек", "Психологическая помощь", "Psychological support"),
    "purpose.safety_plan": ("Баланың қауіпсіздігін немесе орналастырылуын жоспарлау",
                            "План безопасности или устройства ребёнка", "Plan the child's safety or placement"),
    "purpose.social_support": ("Отбасына әлеуметтік көмек", "Социальная помощь семье", "Social support for the family"),
    "purpose.school_support": ("Мектептегі қолдау", "Поддержка в школе", "Support at school"),
    "purpose.legal_proceedings": ("Полиция, сот немесе КДН ісі", "Производство полиции, суда или КДН",
                                  "Police, court or KDN proceedings"),
    "purpose.guardianship": ("Қорғаншылық шешімі", "Решение органа опеки", "A guardianship decision"),
    "purpose.audit": ("Істің аудиті", "Аудит случая", "Audit of the case"),
    # dashboard / cases
    "dash.title": ("Үйлестіруші тақтасы", "Панель координатора", "Coordinator dashboard"),
    "dash.launch": ("Жаңа іс ашу", "Открыть новый случай", "Launch a case"),
    "dash.algorithm": ("Алгоритм", "Алгоритм", "Algorithm"),
    "dash.choose_algorithm": ("Алгоритмді таңдау", "Выбрать алгоритм", "Choose the algorithm"),
    "dash.launch_submit": ("Істі ашу", "Открыть случай", "Launch"),
    "dash.region_cases": ("Өңір істері", "Случаи региона", "The region's cases"),
    "cases.title": ("Істер", "Случаи", "Cases"),
    "cases.filter": ("Сүзгі", "Фильтр", "Filter"),
    "cases.apply": ("Қолдану", "Применить", "Apply"),
    "cases.all": ("барлығы", "все", "all"),
    "cases.only_overdue": ("Тек мерзімі өткен тапсырмалары бар", "Только с просроченными задачами", "Only with overdue tasks"),
    "cases.only_critical": ("Тек сыни", "Только критические", "Only critical"),
    "cases.include_closed": ("Жабылғандарын қоса", "Включая закрытые", "Include closed"),
    "cases.count": ("Табылды", "Найдено", "Found"),
    "cases.empty": ("Іс табылмады.", "Случаев не найдено.", "No cases found."),
    "cases.counts": ("Саны", "Количество", "Counts"),
    "cases.open": ("ашық", "открытых", "open"),
    "cases.shown_first": ("Алғашқылары көрсетілген", "Показаны первые", "Showing the first"),
    "cases.more": ("Келесі бет", "Следующая страница", "Next page"),
    # map
    "map.title": ("Өңірлік тәуекел картасы", "Региональная карта рисков", "Regional risk map"),
    "map.lead": ("Қазақстанның 20 өңірі (ISO 3166-2:KZ, 2022 жылғы реформадан кейін), картадағы орнына сәйкес орналасқан плиткалар. Тек жиынтық көрсеткіштер.",
                 "20 регионов Казахстана (ISO 3166-2:KZ, после реформы 2022 года), плитки расположены как на карте. Только агрегированные показатели.",
                 "The 20 regions of Kazakhstan (ISO 3166-2:KZ, after the 2022 reform) as tiles placed as on the map. Aggregates only."),
    "map.indicator": ("Көрсеткіш", "Показатель", "Indicator"),
    "map.show": ("Көрсету", "Показать", "Show"),
    "map.from": ("Бастап", "С", "From"),
    "map.to": ("Дейін", "По", "To"),
    "map.agency_type": ("Орган түрі", "Тип ведомства", "Agency type"),
    "map.all_algorithms": ("Барлық алгоритмдер", "Все алгоритмы", "All algorithms"),
    "map.legend": ("Шартты белгілер", "Легенда", "Legend"),
    "map.no_data": ("деректер жоқ", "нет данных", "no data"),
    "map.suppressed": ("1–4 мәндері «<5» деп көрсетілген (бұл өңірдің істеріне қол жеткізу құқығы жоқ).",
                       "Значения от 1 до 4 показаны как «<5» (нет доступа к случаям этого региона).",
                       "Counts from 1 to 4 are shown as \"<5\" (no access to that region's cases)."),
    "map.table": ("Өңірлер кестесі", "Таблица по регионам", "Table of regions"),
    "map.details": ("Өңір көрсеткіштері", "Показатели региона", "The region's figures"),
    "map.hint": ("Өңірді таңдаңыз: көрсеткіштері осы жерде шығады, басқанда — істері ашылады.",
                 "Наведите на регион или выберите его клавиатурой: здесь появятся его показатели; щелчок откроет его случаи.",
                 "Hover or focus a region to see its figures here; click it to list its cases."),
    "map.cartogram": ("Өңірлер картограммасы", "Картограмма регионов", "Cartogram of the regions"),
    "map.hours": ("сағ", "ч", "h"),
    "map.tasks_n": ("тапсырма", "задач", "tasks"),
    "ind.open_cases": ("Ашық істер", "Открытые случаи", "Open cases"),
    "ind.overdue_tasks": ("Мерзімі өткен тапсырмалар", "Просроченные задачи", "Overdue tasks"),
    "ind.critical_cases": ("Сыни істер", "Критические случаи", "Critical cases"),
    # violence reports (version 2) launched in the window more than 24 hours after the harm was detected
    "ind.reported_late": ("Кешіктіріп хабарланды", "Сообщено с опозданием", "Reported late"),
    "ind.suicide_attempts": ("Кезеңдегі суицидтік әрекеттер", "Суицидальные попытки за период", "Suicide attempts in the period"),
    "ind.median_reaction": ("Орган түрі бойынша әрекет етудің медианалық уақыты (сағ)",
                            "Медианное время реакции по типу ведомства (ч)",
                            "Median reaction time per agency type (h)"),
    # audit
    "audit.title": ("Аудит", "Аудит", "Audit"),
    "audit.compliance": ("Мерзімдердің сақталуы: орган және тапсырма түрі бойынша",
                         "Соблюдение сроков по ведомствам и видам задач",
                         "Compliance per body and task kind"),
    "audit.window": ("Кезең", "Период", "Window"),
    "audit.csv": ("CSV жүктеу", "Скачать CSV", "Download CSV"),
    "audit.on_time": ("уақтылы", "в срок", "on time"),
    "audit.late": ("кешігіп", "с опозданием", "late"),
    "audit.still_overdue": ("мерзімі өткен, ашық", "просрочено, открыто", "overdue, open"),
    "audit.cancelled": ("Тоқтатылды", "Прекращены", "Cancelled"),
    "audit.cancelled_past_due": ("оның ішінде мерзімі өткеннен кейін", "из них после срока",
                                 "of which after the due date"),
    "audit.version": ("Алгоритм нұсқасы", "Версия алгоритма", "Algorithm version"),
    "audit.versions": ("Істер алгоритм нұсқасы бойынша", "Случаи по версиям алгоритма", "Cases by algorithm version"),
    "audit.version_n": ("{n}-нұсқа", "версия {n}", "version {n}"),
    "audit.cases_n": ("істер", "случаев", "cases"),
    "audit.tasks_n": ("тапсырмалар", "задач", "tasks"),
    "audit.spans_versions": ("Кезең алгоритмнің екі нұсқасын да қамтиды: әр органның тапсырмалары нұсқа бойынша бөлек жолдарда.",
                             "Период охватывает обе версии алгоритма: задачи каждого ведомства показаны отдельной строкой по каждой версии.",
                             "The window spans both versions of the algorithm: each body's tasks are shown in a row per version."),
    "audit.legend": ("Тоқтатылды — іс жабылған кезде тоқтатылған басқа органдардың тапсырмалары (2-нұсқа); олар орындалған "
                     "да, уақтылы орындалған да болып есептелмейді. Уақтылы, % = уақтылы / (уақтылы + кешігіп + мерзімі "
                     "өткен). Алгоритм нұсқасы — іс жүргізілген нұсқа; 1-нұсқада іс жабылғанда басқа органдардың ашық "
                     "тапсырмалары орындалды деп белгіленетін.",
                     "Прекращены — задачи других ведомств, прекращённые при закрытии случая (версия 2); они не считаются "
                     "ни выполненными, ни выполненными в срок. В срок, % = в срок / (в срок + с опозданием + просрочено). "
                     "Версия алгоритма — версия, по которой вёлся случай; в версии 1 при закрытии случая открытые задачи "
                     "других ведомств отмечались как выполненные.",
                     "Cancelled: other bodies' tasks stopped when the case was closed (version 2); they count neither as "
                     "done nor as on time. On time, % = on time / (on time + late + overdue). Algorithm version: the "
                     "version the case ran; in version 1, closing a case marked the other bodies' open tasks as done."),
    "audit.duty_to_report": ("Хабарлау міндеті: өңірлер және хабарлаған органдар бойынша",
                             "Обязанность сообщать: по регионам и сообщившим ведомствам",
                             "Duty to report: per region and reporting body"),
    "audit.launched": ("Тіркелген хабарламалар", "Зарегистрировано сообщений", "Reports launched"),
    "audit.late_share": ("кешіктіріп хабарланғаны, %", "с опозданием, %", "reported late, %"),
    "audit.reporting_body": ("Хабарлаған орган", "Сообщившее ведомство", "Reporting body"),
    "audit.late_legend": ("Кешіктіріп хабарланды — іс зорлық-зомбылық анықталғаннан кейін 24 сағаттан астам уақыт өткен соң "
                          "тіркелген (зорлық-зомбылық туралы хабарлама, 2-нұсқа). 1-нұсқадағы істер есепке алынбайды.",
                          "Сообщено с опозданием — случай зарегистрирован более чем через 24 часа после выявления "
                          "(сообщение о насилии, версия 2). Случаи версии 1 не учитываются.",
                          "Reported late: the case was launched more than 24 hours after the harm was detected "
                          "(violence report, version 2). Version-1 cases are not counted."),
    "audit.no_late": ("Бұл кезеңде 2-нұсқа бойынша зорлық-зомбылық туралы хабарлама тіркелмеген.",
                      "За период сообщений о насилии по версии 2 не зарегистрировано.",
                      "No violence report of version 2 launched in the window."),
    "audit.late_csv": ("CSV: кешіктіріп хабарлау", "CSV: сообщения с опозданием", "CSV: late reports"),
    "audit.opened": ("ашылды", "открыто", "opened"),
    "audit.rate": ("уақтылы, %", "в срок, %", "on time, %"),
    "audit.median_late": ("кешігу медианасы, сағ", "медиана опоздания, ч", "median delay, h"),
    "audit.chart": ("Диаграмма", "Диаграмма", "Chart"),
    "audit.no_rows": ("Бұл кезеңде тапсырма ашылмаған.", "За период задач не открывалось.", "No tasks opened in the window."),
    "audit.verification": ("Тарихты тексеру және якорь", "Проверка историй и якорь", "Verification and anchor"),
    "audit.last_run": ("Соңғы тексеру", "Последняя проверка", "Last verification run"),
    "audit.never": ("әлі жүргізілмеген", "ещё не проводилась", "not run yet"),
    "audit.run": ("Қазір тексеру", "Проверить сейчас", "Verify now"),
    "audit.running": ("Тексеру жүріп жатыр…", "Проверка идёт…", "Verification is running…"),
    "audit.cases_checked": ("тексерілген істер", "проверено случаев", "cases checked"),
    "audit.events_checked": ("оқиғалар", "событий", "events"),
    "audit.failures": ("ақаулар", "расхождений", "failures"),
    "audit.ok": ("барлығы дұрыс", "всё сходится", "all verify"),
    "audit.anchor": ("Соңғы якорь", "Последний якорь", "Last anchor"),
    "audit.no_anchor": ("якорь жоқ", "якорей нет", "no anchor yet"),
    "audit.plan": ("Жоспар шаралары: орындаушылардың есептілігі", "Меры плана: отчётность исполнителей",
                   "The plan's measures: executors' reporting"),
    "audit.period": ("Ағымдағы кезең", "Текущий период", "Current period"),
    "audit.measure": ("Шара", "Мера", "Measure"),
    "audit.executors": ("Орындаушылар", "Исполнители", "Executors"),
    "audit.executor": ("Орындаушы", "Исполнитель", "Executor"),
    "audit.report_state": ("Есеп күйі", "Статус отчёта", "Report status"),
    "audit.not_launched": ("есеп ашылмаған", "отчёт не открыт", "no report case"),
    "audit.st_accepted": ("есеп қабылданды", "отчёт принят", "report accepted"),
    "audit.st_open": ("есеп жиналуда немесе қаралуда", "отчёт собирается или рассматривается",
                      "report being collected or reviewed"),
    "audit.measures_n": ("шара", "мер", "measures"),
    "audit.summary": ("Жиыны", "Итого", "Summary"),
    # moving running cases to a new version of their algorithm (migrations)
    "nav.migrations": ("Нұсқаға көшіру", "Перевод на новую версию", "Version migrations"),
    "step.migrated": ("Алгоритмнің жаңа нұсқасына көшірілді", "Перевод на новую версию алгоритма",
                      "Moved to a new version of the algorithm"),
    "mig.title": ("Істерді алгоритмнің жаңа нұсқасына көшіру", "Перевод случаев на новую версию алгоритма",
                  "Moving cases to a new version of the algorithm"),
    "mig.lead": ("Жүріп жатқан істерді таңдаңыз: алдымен әр іс бойынша не өзгеретінін көресіз, содан кейін ғана оларды "
                 "көшіресіз. Әр іс жеке көшіріледі, оның тарихына көшіру оқиғасы жазылады.",
                 "Выберите идущие случаи: сначала вы увидите, что изменится в каждом, и только потом переведёте их. "
                 "Каждый случай переводится отдельно, в его историю записывается событие перевода.",
                 "Choose the running cases: first you see what changes for each, and only then move them. Each case "
                 "moves on its own, and its history records the move."),
    "mig.selection": ("Іріктеу", "Выборка", "Selection"),
    "mig.to_version": ("Мақсатты нұсқа", "Целевая версия", "Target version"),
    "mig.plan_help": ("Жоспар ешбір істі өзгертпейді; ол сақталады және аудиторға көрінеді.",
                      "План не меняет ни одного случая; он сохраняется и виден аудитору.",
                      "The plan changes no case; it is kept, and auditors see it."),
    "mig.plan_submit": ("Жоспарды көрсету", "Показать план", "Show the plan"),
    "mig.list": ("Көшірулер мен жоспарлар", "Переводы и планы", "Migrations and plans"),
    "mig.none": ("Әзірге көшіру болған жоқ.", "Переводов пока не было.", "No migration yet."),
    "mig.kind": ("Түрі", "Вид", "Kind"),
    "mig.status": ("Жағдайы", "Состояние", "Run status"),
    "mig.n.cases": ("Таңдалған істер", "Случаев в выборке", "Cases selected"),
    "mig.n.migratable": ("Көшіруге болады", "Можно перевести", "Can move"),
    "mig.n.not_migratable": ("Көшіруге болмайды", "Нельзя перевести", "Cannot move"),
    "mig.n.tasks_kept": ("Тапсырма сол органда қалады", "Задач остаётся у того же ведомства", "Tasks kept"),
    "mig.n.tasks_moved": ("Тапсырма басқа органға беріледі", "Задач передаётся другому ведомству",
                          "Tasks moved to another body"),
    "mig.n.tasks_cancelled": ("Тапсырма тоқтатылады", "Задач прекращается", "Tasks cancelled"),
    "mig.n.tasks_opened": ("Жаңа тапсырма ашылады", "Новых задач открывается", "Tasks opened"),
    "mig.n.state_changes": ("Күйі өзгеретін істер", "Случаев со сменой статуса", "Status changes"),
    "mig.moved": ("көшірілді", "переведено", "moved"),
    "mig.skipped": ("өткізілді (бұрын көшірілген)", "пропущено (уже переведены)", "skipped (already moved)"),
    "mig.failed": ("қатемен аяқталды", "с ошибкой", "failed"),
    "mig.dry_run": ("жоспар", "план", "plan"),
    "mig.run": ("көшіру", "перевод", "run"),
    "mig.status.planned": ("жоспарланды", "спланирован", "planned"),
    "mig.status.running": ("жүріп жатыр", "выполняется", "running"),
    "mig.status.done": ("аяқталды", "завершён", "done"),
    "mig.status.failed": ("үзілді", "прерван", "failed"),
    "mig.versions": ("{m}-нұсқа → {n}-нұсқа", "версия {m} → {n}", "version {m} → {n}"),
    "mig.plan_n": ("Жоспар №{id}", "План № {id}", "Plan {id}"),
    "mig.run_n": ("Көшіру №{id}", "Перевод № {id}", "Migration {id}"),
    "mig.counts": ("Жиыны", "Итоги", "Counts"),
    "mig.apply": ("Істерді көшіру", "Перевести случаи", "Apply: move the cases"),
    "mig.apply_help": ("Әр іс көшірілер сәтте қайта жоспарланады: жоспардан кейін өзгерген іс сол кездегі күйі бойынша "
                       "көшіріледі, бұрын көшірілген іс өткізіледі.",
                       "Каждый случай планируется заново в момент перевода: случай, изменившийся после плана, "
                       "переводится по тому, каким он стал; уже переведённый пропускается.",
                       "Each case is planned again as it moves: a case changed since this plan moves as it stands "
                       "then; a case already moved is skipped."),
    "mig.cases": ("Істер бойынша", "По случаям", "Case by case"),
    "mig.shown": ("Барлығы {total} істің алғашқы {n} көрсетілген.", "Показаны первые {n} из {total}.",
                  "The first {n} of {total} are shown."),
    "mig.col.state": ("Күйі: қазір → кейін", "Статус: сейчас → после", "Status: now → after"),
    "mig.col.moved": ("Басқа органға берілетін тапсырмалар", "Задачи, передаваемые другому ведомству",
                      "Tasks moved to another body"),
    "mig.col.kept": ("Сақталатын тапсырмалар", "Сохраняемые задачи", "Tasks kept"),
    "mig.col.cancelled": ("Тоқтатылатын тапсырмалар", "Прекращаемые задачи", "Tasks cancelled"),
    "mig.col.opened": ("Ашылатын тапсырмалар", "Открываемые задачи", "Tasks opened"),
    "mig.due_kept": ("мерзімі сақталады", "срок сохраняется", "due kept"),
    "mig.not_migratable": ("Көшіруге болмайтын істер", "Случаи, которые нельзя перевести", "Cases that cannot move"),
    "mig.nothing": ("Көшіретін жүріп жатқан іс жоқ.", "Нет идущих случаев для перевода.", "No running case to move."),
    "mig.progress": ("Көшіру барысы", "Ход перевода", "Progress"),
    "mig.outcome": ("Нәтижесі", "Итог", "Outcome"),
    "mig.processed": ("{total} істің {done} өңделді", "обработано {done} из {total}", "{done} of {total} cases processed"),
    "mig.refresh": ("Бет өздігінен жаңарады.", "Страница обновляется сама.", "This page refreshes itself."),
    "mig.finished": ("Аяқталған уақыты:", "Завершён:", "Finished:"),
    "mig.replanned": ("жоспардан кейін өзгеріп, қайта жоспарланған істер", "изменились после плана и спланированы заново",
                      "changed since the plan and planned again"),
    "mig.back": ("Барлық көшірулер", "Все переводы", "All migrations"),
    "mig.note": ("Көшіру туралы ескертпе", "Примечание к переводу", "The migration's note"),
    "mig.moved_to_version": ("Алгоритмнің {n}-нұсқасына көшірілді ({m}-нұсқадан)",
                             "Переведён на версию {n} алгоритма (с версии {m})",
                             "Moved to version {n} of the algorithm (from version {m})"),
    "mig.task_moved": ("«{task}» тапсырмасы берілді: {source} → {to}; мерзімі сақталды ({due})",
                       "Задача «{task}» передана: {source} → {to}; срок сохранён ({due})",
                       "Task “{task}” moved from {source} to {to}; due kept ({due})"),
    "mig.task_kept": ("«{task}» тапсырмасы — {body}: сақталды, мерзімі {due}",
                      "Задача «{task}» — {body}: сохранена, срок {due}",
                      "Task “{task}” — {body}: kept, due {due}"),
    "mig.data_defaults": ("Жаңа нұсқа талап ететін деректер толтырылды", "Заполнены данные, которых требует новая версия",
                          "Filled in what the new version requires"),
}


def t(key: str, lang: str) -> str:
    words = _WORDS.get(key)
    if words is None:
        return key
    return words[LANGUAGES.index(lang) if lang in LANGUAGES else 1]


def value_title(value: object, lang: str) -> str:
    words = VALUES.get(str(value))
    if words is None:
        return str(value)
    return words[LANGUAGES.index(lang) if lang in LANGUAGES else 1]


def body_type_title(body_type: str, lang: str) -> str:
    words = BODY_TYPES.get(body_type)
    if words is None:
        return body_type
    return words[LANGUAGES.index(lang) if lang in LANGUAGES else 1]


def body_types() -> list[str]:
    return list(BODY_TYPES)


def pick(titles, lang: str) -> str:
    """One language out of a {kk, ru, en} mapping or Titles model (Russian, then Kazakh, as fallback)."""
    if titles is None:
        return ""
    raw = titles.model_dump() if hasattr(titles, "model_dump") else titles
    return raw.get(lang) or raw.get("ru") or raw.get("kk") or ""


def negotiate(accept_language: str | None) -> str:
    """The first of kk, ru, en the browser asks for (by q-value); Russian when it names none."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    choices = []
    for i, part in enumerate(accept_language.split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        if primary in LANGUAGES and q > 0:
            choices.append((-q, i, primary))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE
