-- Migration 0087: multi-currency ledger entries.
--
-- Until now an entry's currency was implied by its account. The FX reconciliation job
-- (DailyTurnoverByCurrency) needs it on the entry itself, so this migration
--   * adds ledger_entries.currency_code, defaulting to EUR (about 82% of all entries),
--   * keeps it in step with the account for every new entry, whichever release writes it,
--   * fills in the currency of the existing non-EUR entries from their account,
--   * indexes entries by (currency_code, posted_at) for the nightly job,
--   * retires legacy_batch_ref, which the application no longer reads since release 2024.3.
--
-- Applied by the deploy pipeline (migrate-runner) against the primary before the new
-- application version rolls out:
--   psql "$LEDGER_PRIMARY_URL" -v ON_ERROR_STOP=1 -f 0087_ledger_entries_currency.sql

BEGIN;

SET LOCAL lock_timeout = '5s';

ALTER TABLE ledger_entries
    ADD COLUMN currency_code char(3) NOT NULL DEFAULT 'EUR';

COMMENT ON COLUMN ledger_entries.currency_code IS
    'ISO 4217 code of amount_minor; always equal to the currency of the entry''s account.';

CREATE FUNCTION ledger_entries_set_currency() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    SELECT a.currency_code INTO NEW.currency_code
    FROM accounts AS a
    WHERE a.id = NEW.account_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_entries_set_currency
    BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_set_currency();

UPDATE ledger_entries AS e
SET    currency_code = a.currency_code
FROM   accounts AS a
WHERE  a.id = e.account_id
  AND  a.currency_code <> 'EUR';

ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_currency_fk
    FOREIGN KEY (currency_code) REFERENCES currencies (code) NOT VALID;

CREATE INDEX ledger_entries_currency_posted_idx
    ON ledger_entries (currency_code, posted_at);

ALTER TABLE ledger_entries DROP COLUMN legacy_batch_ref;

INSERT INTO schema_migrations (version) VALUES ('0087');

COMMIT;

-- Checks existing rows without blocking writes; run by migrate-runner right after 0087:
ALTER TABLE ledger_entries VALIDATE CONSTRAINT ledger_entries_currency_fk;

ANALYZE ledger_entries;
