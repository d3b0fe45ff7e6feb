"""The admin API (Django REST framework): views, the error envelope, the OpenAPI extras."""
