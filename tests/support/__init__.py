"""What the tests run beside Qorgau: a real Prefect server, an SMTP server and an HTTP sink."""
