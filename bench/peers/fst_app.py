"""A minimal Flask-Security-Too 5.x app: its stock login page and one signed-in page.

Run by bench/pages.py in a virtualenv of its own; BENCH_PEER_DB names its SQLite file, and
BENCH_PEER_EMAIL / BENCH_PEER_PASSWORD the one account it makes so the benchmark can sign in.
"""

import os

from flask import Flask, render_template_string
from flask_security import Security, SQLAlchemyUserDatastore, auth_required, current_user, hash_password
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
# A throwaway peer's keys; bcrypt like the portal (Flask-Security-Too 5 defaults to argon2).
app.config.update({
    "SECRET_KEY": "bench-peer-secret-key-0123456789abcdef0123456789",
    "SECURITY_PASSWORD_SALT": "bench-peer-salt-0123456789",
    "SECURITY_PASSWORD_HASH": "bcrypt",
    "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.environ["BENCH_PEER_DB"],
})
db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    pass


class User(db.Model, fsqla.FsUserMixin):
    pass


app.security = Security(app, SQLAlchemyUserDatastore(db, User, Role))

with app.app_context():
    db.create_all()
    email = os.environ.get("BENCH_PEER_EMAIL")
    if email and not app.security.datastore.find_user(email=email):
        app.security.datastore.create_user(email=email, password=hash_password(os.environ["BENCH_PEER_PASSWORD"]))
        db.session.commit()


@app.get("/account")
@auth_required()
def account() -> str:
    return render_template_string("<!doctype html><title>Account</title><p>{{ current_user.email }}</p>",
                                  current_user=current_user)
