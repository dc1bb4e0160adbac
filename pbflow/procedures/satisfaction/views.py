from flask import Blueprint

bp = Blueprint("satisfaction", __name__, url_prefix="/survey")


@bp.get("/")
def answer():
    return ""
