"""Notifications by e-mail, through a real SMTP server on 127.0.0.1 (aiosmtpd) whose
received messages the tests read: each one or a daily digest, in the reader's language,
queued and sent outside the request, retried on failure, never twice, never blocking a step,
and never anything about an opinion that may have been dropped anonymously."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select, update

from pbflow.engine import runtime, timers
from pbflow.extensions import db
from pbflow.models import MailMessage, Notification, ProcessInstance, SiteFlag
from pbflow.procedures.opinion_box import services as opinions
from pbflow.services import accounts, mail
from tests.conftest import csrf_token
from tests.pages_helpers import funding_case, walk


class Inbox:
    """An SMTP server's handler: keeps what arrives; can answer the next ones with an error."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def bodies(self) -> list[str]:
        return [m.get_content() for m in self.messages]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def server(app, smtp):
    inbox, port = smtp
    inbox.messages.clear()
    inbox.refuse.clear()
    app.config.update(
        PBFLOW_SMTP_HOST="127.0.0.1",
        PBFLOW_SMTP_PORT=port,
        PBFLOW_SMTP_SECURITY="none",
        PBFLOW_SMTP_FROM="pbflow@coal.example",
        PBFLOW_BASE_URL="https://pbflow.coal.example",
    )
    return inbox


def _returned_request(world):
    """A funding request returned to its requester (branch_member): one 'result' notice."""
    case = funding_case(world)
    walk(case.id, world, ("submit", "branch_member"))
    runtime.fire(case.id, "return_for_changes", world["secretary"], comment="请修改")
    return case


def test_each_notification_by_e_mail_in_the_readers_language(world, clock, server, auth, client):
    # The requester chooses it on the account page.
    auth.login("branch_member")
    page = client.get("/account/").get_data(as_text=True)
    done = client.post(
        "/account/email",
        data={
            "csrf_token": csrf_token(page),
            "email": "bm@coal.example",
            "email_mode": "immediate",
        },
    )
    assert done.status_code == 302
    accounts.set_locale(world["branch_member"], "en")
    case = _returned_request(world)
    assert server.messages == []  # nothing is sent by the step itself
    report = mail.run()
    assert (report.queued, report.sent) == (1, 1)
    [message] = server.messages
    assert message["To"] == "bm@coal.example" and message["From"] == "pbflow@coal.example"
    body = message.get_content()
    # The step is named, with where it left the case, in the reader's language.
    assert "七一主题党日活动: Return for changes, now Draft" in body
    assert f"https://pbflow.coal.example/cases/{case.id}" in body
    assert "退回" not in body
    # Run again: nothing twice.
    assert mail.run().sent == 0 and len(server.messages) == 1
    # The same kind of notice for a reader who reads Chinese arrives in Chinese.
    accounts.set_locale(world["branch_member"], "zh")
    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "return_for_changes", world["secretary"], comment="再改")
    mail.run()
    assert len(server.messages) == 2
    assert "pbflow" in server.messages[1]["Subject"]
    assert "七一主题党日活动：退回修改，当前为“草稿”" in server.messages[1].get_content()


def test_a_daily_digest_gathers_a_days_notifications(world, clock, server):
    accounts.set_email_preferences(world["branch_member"], "bm@coal.example", "daily")
    clock.set("2026-03-02T02:00:00")
    _returned_request(world)
    _returned_request(world)
    assert mail.run().queued == 0 and server.messages == []
    clock.set("2026-03-02T22:30:00")  # 06:30 the next morning in Beijing: before the hour
    assert mail.run().queued == 0
    clock.set("2026-03-02T23:30:00")  # 07:30
    report = mail.run()
    assert (report.queued, report.sent) == (1, 1)
    [digest] = server.messages
    assert "2026-03-02" in digest["Subject"] and digest.get_content().count("\n- ") >= 1
    assert digest.get_content().count("七一主题党日活动") == 2
    assert mail.run().sent == 0 and len(server.messages) == 1


def test_a_failed_delivery_is_retried_and_a_refused_one_is_not(world, clock, server):
    accounts.set_email_preferences(world["branch_member"], "bm@coal.example", "immediate")
    _returned_request(world)
    server.refuse.append("451 4.3.0 try again later")
    report = mail.run()
    assert (report.sent, report.retrying) == (0, 1) and server.messages == []
    assert mail.run().sent == 0  # not before its pause is over
    clock.advance(minutes=6)
    assert mail.run().sent == 1 and len(server.messages) == 1
    _returned_request(world)
    server.refuse.append("550 5.1.1 no such mailbox")
    report = mail.run()
    assert report.failed == 1 and report.problems
    clock.advance(days=1)
    assert mail.run().sent == 0 and len(server.messages) == 1
    statuses = db.session.execute(select(MailMessage.status).order_by(MailMessage.id)).scalars()
    assert list(statuses) == ["sent", "failed"]


def test_a_dead_mail_server_never_breaks_a_step(world, clock, server, app):
    accounts.set_email_preferences(world["branch_member"], "bm@coal.example", "immediate")
    app.config["PBFLOW_SMTP_PORT"] = _free_port()  # nobody listens there
    case = _returned_request(world)
    assert runtime.load_case(case.id).state == "draft"
    report = mail.run()
    assert report.retrying == 1 and report.sent == 0


def test_a_message_whose_sender_died_is_not_sent_again(world, clock, server):
    accounts.set_email_preferences(world["branch_member"], "bm@coal.example", "immediate")
    _returned_request(world)
    mail.queue(clock.set("2026-03-02T02:00:00"), mail.MailReport())
    # A sender claimed it and died before marking it sent (it may have gone out).
    db.session.execute(update(MailMessage).values(status="sending", claimed_at=clock.advance()))
    db.session.commit()
    clock.advance(hours=2)
    report = mail.run()
    assert report.uncertain == 1 and report.sent == 0 and server.messages == []


def test_an_anonymous_opinion_is_never_e_mailed_about(world, clock, server):
    accounts.set_email_preferences(world["secretary"], "sec@coal.example", "immediate")
    accounts.set_email_preferences(world["deputy"], "dep@coal.example", "daily")
    form = {
        "subject": "领导作风",
        "text": "某领导在会上压制不同意见",
        "category": "work_style",
        "anonymous": "1",
    }
    opinions.submit("b1", form, user=world["member"], client="10.0.0.7")
    opinions.submit(
        "b1", {**form, "subject": "食堂", "anonymous": ""}, user=world["member"], client="10.0.0.7"
    )
    secret = db.session.execute(
        select(ProcessInstance.id).where(ProcessInstance.title == "领导作风")
    ).scalar_one()
    clock.advance(days=10)  # both are overdue for acknowledgement: reminders and notices
    timers.tick()
    clock.advance(days=1)
    mail.run()
    sent = "\n".join(m.get_content() + str(m["Subject"]) for m in server.messages)
    assert server.messages, "the named opinion's notices are mailed"
    assert "食堂" in sent
    assert "领导作风" not in sent and "压制" not in sent
    states = dict(
        db.session.execute(
            select(Notification.id, Notification.mail_state).where(
                Notification.instance_id == secret
            )
        ).all()
    )
    assert states and set(states.values()) == {"none"}


def test_no_e_mail_from_a_rehearsal_copy_nor_without_a_server(world, clock, server, app):
    from pbflow.services import rehearsal

    accounts.set_email_preferences(world["branch_member"], "bm@coal.example", "immediate")
    _returned_request(world)
    rehearsal.start("drill")
    assert "rehearsal copy" in mail.run().summary() and server.messages == []
    db.session.execute(delete(SiteFlag))
    db.session.commit()
    app.config["PBFLOW_SMTP_HOST"] = None
    assert "off" in mail.run().summary() and server.messages == []
    assert db.session.execute(select(Notification.mail_state)).scalars().all() == ["none"]


def test_the_account_page_refuses_a_bad_address(world, auth, client):
    auth.login("branch_member")
    page = client.get("/account/?lang=en").get_data(as_text=True)
    bad = client.post(
        "/account/email?lang=en",
        data={"csrf_token": csrf_token(page), "email": "not an address", "email_mode": "daily"},
    )
    assert bad.status_code == 422 and "is not an e-mail address" in bad.get_data(as_text=True)
    bad = client.post(
        "/account/email?lang=en",
        data={"csrf_token": csrf_token(page), "email": "", "email_mode": "immediate"},
    )
    assert bad.status_code == 422 and "give the address to send to" in bad.get_data(as_text=True)
    db.session.refresh(world["branch_member"])
    assert world["branch_member"].email is None and world["branch_member"].email_mode == "off"


def test_mail_send_from_the_command_line(world, clock, server, runner):
    accounts.set_email_preferences(world["branch_member"], "bm@coal.example", "immediate")
    _returned_request(world)
    result = runner.invoke(args=["pbflow", "mail", "send"])
    assert result.exit_code == 0 and "sent 1" in result.output
    again = runner.invoke(args=["pbflow", "mail", "send"])
    assert "sent 0" in again.output and len(server.messages) == 1
