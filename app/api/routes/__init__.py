"""The API's routers, one module per audience: cases (coordinators and agencies), inbox
(agencies), audit (auditors), tokens (admins), migrations (admins and the ministry's coordinator;
auditors read), meta (anyone with a token)."""
