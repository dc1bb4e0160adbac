from flask import Blueprint
from flask.cli import AppGroup

bp = Blueprint("assessment", __name__, url_prefix="/assessment")
cli = AppGroup("assessment", help="Branch assessment: schemes and rounds.")


@bp.get("/")
def index():
    return ""
