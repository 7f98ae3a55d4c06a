app_name = "gpus"

urlpatterns: list = []
