"""Entry point: ``flask --app app ...`` and ``python app.py`` both use this factory call."""

from pbflow import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
