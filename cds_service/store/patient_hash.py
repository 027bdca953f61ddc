"""Pseudonymous patient identifiers: HMAC-SHA-256 of the patient id under a secret salt.

Without the salt a hash cannot be reversed by hashing every plausible patient id, and with
the same salt the same patient always maps to the same value, so analytics can count
distinct patients without the store ever holding an identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine, select

from cds_service.store.db import write_transaction
from cds_service.store.models import store_meta
from cds_service.store.sql import insert_ignoring_duplicates

SALT_KEY = "patient_hash_salt"


def hash_patient_id(salt: str, patient_id: str) -> str:
    # surrogatepass: any str the JSON parser produced hashes, and distinct ids stay distinct.
    message = patient_id.encode("utf-8", "surrogatepass")
    return hmac.new(salt.encode("utf-8"), message, hashlib.sha256).hexdigest()


def load_or_create_salt(engine: Engine) -> str:
    """The salt stored in the database, generated on first use.

    Kept in the database rather than a file so every replica sharing a database agrees; the
    insert ignores a conflict, so processes starting together all read back the same salt.
    """
    with write_transaction(engine) as conn:
        conn.execute(
            insert_ignoring_duplicates(conn, store_meta).values(
                key=SALT_KEY, value=secrets.token_hex(32)
            )
        )
        return conn.execute(
            select(store_meta.c.value).where(store_meta.c.key == SALT_KEY)
        ).scalar_one()
