"""m3tr service edge: settings, CLI, web app. The only layer (with workers/) that reads settings."""
