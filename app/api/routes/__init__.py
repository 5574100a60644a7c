"""The API's routers, one module per audience: cases (coordinators and agencies), inbox
(agencies), audit (auditors), tokens (admins), meta (anyone with a token)."""
