"""chat_store: the team chat's data in SQLite (standard library only).

`ChatStore(path)` opens (and creates) the database; every call uses a new connection, committed
at once, so one store can be shared by the server's threads. Rules on names and texts live here;
a broken rule raises a `ChatError` subclass that carries the HTTP status the server answers with.
"""

import hashlib
import hmac
import re
import secrets
import sqlite3
from datetime import datetime, timezone

PBKDF2_ITERATIONS = 120_000
USERNAME_MIN, USERNAME_MAX = 3, 20
PASSWORD_MIN, PASSWORD_MAX = 8, 128
CHANNEL_NAME_MAX = 32
TOPIC_MAX = 200
MESSAGE_MAX = 4000
EMOJI_MAX = 16
MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,20})")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        salt TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sessions (
        token TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS channels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL DEFAULT '',
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS members (
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        joined_at TEXT NOT NULL,
        PRIMARY KEY (channel_id, user_id))""",
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        parent_id INTEGER REFERENCES messages(id),
        text TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel_id, parent_id, id)",
    """CREATE TABLE IF NOT EXISTS reactions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id INTEGER NOT NULL REFERENCES messages(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        emoji TEXT NOT NULL,
        UNIQUE (message_id, user_id, emoji))""",
    """CREATE TABLE IF NOT EXISTS mentions (
        message_id INTEGER NOT NULL REFERENCES messages(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        position INTEGER NOT NULL,
        PRIMARY KEY (message_id, user_id))""",
]


class ChatError(Exception):
    """A broken rule; `status` is the HTTP status the server answers with."""

    status = 400

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Invalid(ChatError):
    status = 400


class Unauthorized(ChatError):
    status = 401


class Forbidden(ChatError):
    status = 403


class NotFound(ChatError):
    status = 404


class Conflict(ChatError):
    status = 409


def utc_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hash_password(password, salt):
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    return digest.hex()


def normalize_username(value):
    if not isinstance(value, str):
        raise Invalid("username must be a string")
    name = value.strip().lower()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise Invalid(f"username must be {USERNAME_MIN} to {USERNAME_MAX} characters long")
    if not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        raise Invalid("username may only contain letters, digits and underscores")
    return name


def check_password(value):
    if not isinstance(value, str):
        raise Invalid("password must be a string")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise Invalid(f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long")
    return value


def normalize_channel_name(value):
    if not isinstance(value, str):
        raise Invalid("channel name must be a string")
    name = value.strip().lower()
    if not 1 <= len(name) <= CHANNEL_NAME_MAX:
        raise Invalid(f"channel name must be 1 to {CHANNEL_NAME_MAX} characters long")
    if not (name[0].isascii() and name[0].isalnum()):
        raise Invalid("channel name must start with a letter or a digit")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
        raise Invalid("channel name may only contain letters, digits, '-' and '_'")
    return name


def check_topic(value):
    if not isinstance(value, str):
        raise Invalid("topic must be a string")
    topic = value.strip()
    if len(topic) > TOPIC_MAX:
        raise Invalid(f"topic must be at most {TOPIC_MAX} characters long")
    return topic


def check_text(value):
    if not isinstance(value, str):
        raise Invalid("text must be a string")
    text = value.strip()
    if not text:
        raise Invalid("text must not be blank")
    if len(text) > MESSAGE_MAX:
        raise Invalid(f"text must be at most {MESSAGE_MAX} characters long")
    return text


def check_emoji(value):
    if not isinstance(value, str):
        raise Invalid("emoji must be a string")
    emoji = value.strip()
    if not emoji or len(emoji) > EMOJI_MAX or any(c.isspace() for c in emoji):
        raise Invalid(f"emoji must be 1 to {EMOJI_MAX} characters without spaces")
    return emoji


def mentioned_names(text):
    """Lower-cased names after `@`, in order of first appearance, without duplicates."""
    names = []
    for match in MENTION.finditer(text):
        name = match.group(1).lower()
        if name not in names:
            names.append(name)
    return names


def user_dict(row):
    return {"id": row["id"], "username": row["username"], "created_at": row["created_at"]}


class ChatStore:
    def __init__(self, path):
        self.path = str(path)
        with self._connect() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def _connect(self):
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return _Connection(conn)

    # -- accounts -------------------------------------------------------------------------------

    def create_user(self, username, password):
        name = normalize_username(username)
        check_password(password)
        salt = secrets.token_bytes(16)
        with self._connect() as conn:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (name,)).fetchone():
                raise Conflict(f"the username {name} is taken")
            try:
                cursor = conn.execute(
                    "INSERT INTO users (username, password_hash, salt, created_at) VALUES (?, ?, ?, ?)",
                    (name, hash_password(password, salt), salt.hex(), utc_now()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"the username {name} is taken") from None
            row = conn.execute("SELECT * FROM users WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return user_dict(row)

    def authenticate(self, username, password):
        """The user with this name and password, or None."""
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM users WHERE username = ?", (username.strip().lower(),)
            ).fetchone()
        if row is None:
            return None
        expected = hash_password(password, bytes.fromhex(row["salt"]))
        if not hmac.compare_digest(expected, row["password_hash"]):
            return None
        return user_dict(row)

    def create_session(self, user_id):
        token = secrets.token_urlsafe(32)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO sessions (token, user_id, created_at) VALUES (?, ?, ?)",
                (token, user_id, utc_now()),
            )
        return token

    def user_for_token(self, token):
        if not token:
            return None
        with self._connect() as conn:
            row = conn.execute(
                "SELECT users.* FROM sessions JOIN users ON users.id = sessions.user_id"
                " WHERE sessions.token = ?",
                (token,),
            ).fetchone()
        return user_dict(row) if row else None

    def delete_session(self, token):
        with self._connect() as conn:
            conn.execute("DELETE FROM sessions WHERE token = ?", (token,))

    def get_user(self, username):
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return user_dict(row) if row else None

    # -- channels -------------------------------------------------------------------------------

    def _channel_row(self, conn, name):
        if not isinstance(name, str):
            raise NotFound("no such channel")
        row = conn.execute("SELECT * FROM channels WHERE name = ?", (name.lower(),)).fetchone()
        if row is None:
            raise NotFound(f"no channel named {name}")
        return row

    def _is_member(self, conn, channel_id, user_id):
        return conn.execute(
            "SELECT 1 FROM members WHERE channel_id = ? AND user_id = ?", (channel_id, user_id)
        ).fetchone() is not None

    def _member_channel(self, conn, user, name):
        """The channel's row; NotFound if there is none, Forbidden if the user isn't a member."""
        row = self._channel_row(conn, name)
        if not self._is_member(conn, row["id"], user["id"]):
            raise Forbidden(f"you are not a member of #{row['name']}")
        return row

    def _channel_dict(self, conn, row, user):
        creator = conn.execute("SELECT username FROM users WHERE id = ?", (row["created_by"],)).fetchone()
        members = conn.execute(
            "SELECT COUNT(*) FROM members WHERE channel_id = ?", (row["id"],)
        ).fetchone()[0]
        member = self._is_member(conn, row["id"], user["id"])
        channel = {
            "name": row["name"],
            "topic": row["topic"],
            "created_by": creator["username"],
            "created_at": row["created_at"],
            "members": members,
            "member": member,
        }
        return channel

    def _add_member(self, conn, channel_id, user_id):
        conn.execute(
            "INSERT OR IGNORE INTO members (channel_id, user_id, joined_at) VALUES (?, ?, ?)",
            (channel_id, user_id, utc_now()),
        )

    def create_channel(self, user, name, topic=""):
        name = normalize_channel_name(name)
        topic = check_topic(topic)
        with self._connect() as conn:
            if conn.execute("SELECT 1 FROM channels WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"a channel named {name} already exists")
            try:
                cursor = conn.execute(
                    "INSERT INTO channels (name, topic, created_by, created_at) VALUES (?, ?, ?, ?)",
                    (name, topic, user["id"], utc_now()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a channel named {name} already exists") from None
            self._add_member(conn, cursor.lastrowid, user["id"])
            row = conn.execute("SELECT * FROM channels WHERE id = ?", (cursor.lastrowid,)).fetchone()
            return self._channel_dict(conn, row, user)

    def list_channels(self, user):
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM channels ORDER BY name").fetchall()
            return [self._channel_dict(conn, row, user) for row in rows]

    def get_channel(self, user, name):
        with self._connect() as conn:
            return self._channel_dict(conn, self._channel_row(conn, name), user)

    def join_channel(self, user, name):
        with self._connect() as conn:
            row = self._channel_row(conn, name)
            self._add_member(conn, row["id"], user["id"])
            return self._channel_dict(conn, row, user)

    # -- messages -------------------------------------------------------------------------------

    def _message_dict(self, conn, row):
        author = conn.execute("SELECT username FROM users WHERE id = ?", (row["user_id"],)).fetchone()
        channel = conn.execute("SELECT name FROM channels WHERE id = ?", (row["channel_id"],)).fetchone()
        replies = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE parent_id = ?", (row["id"],)
        ).fetchone()[0]
        message = {
            "id": row["id"],
            "channel": channel["name"],
            "author": author["username"],
            "text": row["text"],
            "parent_id": row["parent_id"],
            "reply_count": replies,
            "created_at": row["created_at"],
        }
        message["reactions"] = self._reactions(conn, row["id"])
        message["mentions"] = [
            r["username"]
            for r in conn.execute(
                "SELECT users.username FROM mentions JOIN users ON users.id = mentions.user_id"
                " WHERE mentions.message_id = ? ORDER BY mentions.position",
                (row["id"],),
            )
        ]
        return message

    def _insert_message(self, conn, channel_id, user_id, text, parent_id):
        cursor = conn.execute(
            "INSERT INTO messages (channel_id, user_id, parent_id, text, created_at) VALUES (?, ?, ?, ?, ?)",
            (channel_id, user_id, parent_id, text, utc_now()),
        )
        for position, name in enumerate(mentioned_names(text)):
            mentioned = conn.execute("SELECT id FROM users WHERE username = ?", (name,)).fetchone()
            if mentioned is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO mentions (message_id, user_id, position) VALUES (?, ?, ?)",
                    (cursor.lastrowid, mentioned["id"], position),
                )
        row = conn.execute("SELECT * FROM messages WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return self._message_dict(conn, row)

    def _visible_message_row(self, conn, user, message_id):
        """The message's row; NotFound if there is none, Forbidden outside the user's channels."""
        row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise NotFound(f"no message with id {message_id}")
        if not self._is_member(conn, row["channel_id"], user["id"]):
            raise Forbidden("you are not a member of this message's channel")
        return row

    def post_message(self, user, channel_name, text):
        text = check_text(text)
        with self._connect() as conn:
            channel = self._member_channel(conn, user, channel_name)
            return self._insert_message(conn, channel["id"], user["id"], text, None)

    def list_messages(self, user, channel_name, limit=50, before=None):
        """(top-level messages oldest first, whether older ones exist); marks the channel read."""
        with self._connect() as conn:
            channel = self._member_channel(conn, user, channel_name)
            query = "SELECT * FROM messages WHERE channel_id = ? AND parent_id IS NULL"
            args = [channel["id"]]
            if before is not None:
                query += " AND id < ?"
                args.append(before)
            rows = conn.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit + 1)).fetchall()
            has_more = len(rows) > limit
            rows = list(reversed(rows[:limit]))
            return [self._message_dict(conn, row) for row in rows], has_more

    def get_message(self, user, message_id):
        with self._connect() as conn:
            return self._message_dict(conn, self._visible_message_row(conn, user, message_id))

    def post_reply(self, user, message_id, text):
        text = check_text(text)
        with self._connect() as conn:
            parent = self._visible_message_row(conn, user, message_id)
            if parent["parent_id"] is not None:
                raise Invalid("replies go to the thread's first message: threads are one level deep")
            return self._insert_message(conn, parent["channel_id"], user["id"], text, parent["id"])

    def list_replies(self, user, message_id):
        """(the parent message, its replies oldest first)."""
        with self._connect() as conn:
            parent = self._visible_message_row(conn, user, message_id)
            if parent["parent_id"] is not None:
                raise Invalid("a reply has no thread of its own")
            rows = conn.execute(
                "SELECT * FROM messages WHERE parent_id = ? ORDER BY id", (parent["id"],)
            ).fetchall()
            return self._message_dict(conn, parent), [self._message_dict(conn, r) for r in rows]

    # -- reactions ------------------------------------------------------------------------------

    def _reactions(self, conn, message_id):
        """[{emoji, count, users}] in the order each emoji was first used on the message."""
        reactions = {}
        for row in conn.execute(
            "SELECT reactions.emoji, users.username FROM reactions"
            " JOIN users ON users.id = reactions.user_id"
            " WHERE reactions.message_id = ? ORDER BY reactions.id",
            (message_id,),
        ):
            entry = reactions.setdefault(row["emoji"], {"emoji": row["emoji"], "count": 0, "users": []})
            entry["count"] += 1
            entry["users"].append(row["username"])
        return list(reactions.values())

    def toggle_reaction(self, user, message_id, emoji):
        """Adds the user's reaction, or removes it if it is there; (message, whether it's on now)."""
        emoji = check_emoji(emoji)
        with self._connect() as conn:
            row = self._visible_message_row(conn, user, message_id)
            existing = conn.execute(
                "SELECT id FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
                (row["id"], user["id"], emoji),
            ).fetchone()
            if existing:
                conn.execute("DELETE FROM reactions WHERE id = ?", (existing["id"],))
            else:
                conn.execute(
                    "INSERT INTO reactions (message_id, user_id, emoji) VALUES (?, ?, ?)",
                    (row["id"], user["id"], emoji),
                )
            return self._message_dict(conn, row), existing is None

    # -- mentions -------------------------------------------------------------------------------

    def mentions_of(self, user, limit=50):
        """Messages that mention the user, in channels the user is a member of, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT messages.* FROM mentions"
                " JOIN messages ON messages.id = mentions.message_id"
                " JOIN members ON members.channel_id = messages.channel_id AND members.user_id = ?"
                " WHERE mentions.user_id = ? ORDER BY messages.id DESC LIMIT ?",
                (user["id"], user["id"], limit),
            ).fetchall()
            return [self._message_dict(conn, row) for row in rows]


class _Connection:
    """A connection that commits (or rolls back) and closes at the end of a `with` block."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
        return False
