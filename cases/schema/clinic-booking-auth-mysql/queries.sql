-- Hot queries of the booking API (Go, sqlc, MySQL 8.0).
-- Rates are peak QPS from the October 2025 dashboards.

-- name: GetUserByEmail :one
-- Sign-in, first step (~120 QPS).
SELECT id, email, full_name, password_hash, mfa_enabled, role
FROM users
WHERE email = ?;

-- name: GetTotpSecret :one
-- Sign-in, second step for users with MFA enabled.
SELECT AES_DECRYPT(mfa_totp_secret,
                   (SELECT setting_value FROM app_settings
                    WHERE setting_key = 'mfa_encryption_key')) AS totp_secret
FROM users
WHERE id = ?;

-- name: SetTotpSecret :exec
-- MFA enrolment, after the user has confirmed a first code.
UPDATE users
SET mfa_totp_secret = AES_ENCRYPT(?, (SELECT setting_value FROM app_settings
                                      WHERE setting_key = 'mfa_encryption_key')),
    mfa_enabled = 1
WHERE id = ?;

-- name: CreateSession :exec
-- token: 32 bytes from crypto/rand, hex-encoded; returned to the client as the session cookie.
INSERT INTO sessions (token, user_id, user_agent, ip_address, expires_at)
VALUES (?, ?, ?, ?, ?);

-- name: GetSession :one
-- Every authenticated request (~3,500 QPS).
SELECT s.user_id, u.role, s.expires_at
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token = ? AND s.expires_at > NOW(3);

-- name: DeleteSession :exec
DELETE FROM sessions WHERE token = ?;

-- name: PurgeExpiredSessions :execrows
-- Cron job every minute; runs again at once while it reports 5000 rows.
DELETE FROM sessions
WHERE expires_at < NOW(3)
ORDER BY expires_at
LIMIT 5000;

-- name: CreatePasswordResetCode :exec
-- POST /password-reset: a 6-digit code is e-mailed to the user, valid for 30 minutes.
INSERT INTO password_reset_codes (user_id, code, expires_at)
VALUES (?, ?, NOW(3) + INTERVAL 30 MINUTE);

-- name: FindValidResetCode :one
-- POST /password-reset/confirm with e-mail, code and the new password (~15 QPS).
SELECT r.id, r.user_id
FROM password_reset_codes r
JOIN users u ON u.id = r.user_id
WHERE u.email = ? AND r.code = ? AND r.used_at IS NULL AND r.expires_at > NOW(3)
ORDER BY r.id DESC
LIMIT 1;

-- name: MarkResetCodeUsed :execrows
UPDATE password_reset_codes SET used_at = NOW(3) WHERE id = ? AND used_at IS NULL;

-- Booking (POST /appointments, ~90 QPS, bursts of ~900 QPS when clinics open their calendars):
--   START TRANSACTION; CountSlotBookings; if it returns 0: InsertAppointment, InsertBookingEvent;
--   COMMIT. Otherwise ROLLBACK and answer 409 slot_taken.

-- name: CountSlotBookings :one
SELECT COUNT(*)
FROM appointments
WHERE provider_id = ? AND starts_at = ? AND status = 'booked';

-- name: InsertAppointment :execlastid
INSERT INTO appointments (provider_id, patient_id, starts_at, ends_at, notes)
VALUES (?, ?, ?, ?, ?);

-- name: InsertBookingEvent :exec
INSERT INTO booking_events (appointment_id, actor_user_id, event_type, payload)
VALUES (?, ?, ?, ?);

-- name: ListPatientAppointments :many
-- "My appointments" screen (~400 QPS).
SELECT a.id, a.starts_at, a.ends_at, a.status, p.display_name, c.name AS clinic_name
FROM appointments a
JOIN providers p ON p.id = a.provider_id
JOIN clinics c ON c.id = p.clinic_id
WHERE a.patient_id = ? AND a.starts_at >= ?
ORDER BY a.starts_at
LIMIT 50;

-- name: ListProviderDay :many
-- Clinic calendar, one provider and one day (~600 QPS).
SELECT id, patient_id, starts_at, ends_at, status
FROM appointments
WHERE provider_id = ? AND starts_at >= ? AND starts_at < ?
ORDER BY starts_at;

-- name: CancelAppointment :execrows
-- POST /appointments/{id}/cancel, called by the signed-in patient from "My appointments".
UPDATE appointments
SET status = 'cancelled'
WHERE id = ? AND status = 'booked';

-- name: DeleteUserAccount :exec
-- Account deletion from the profile screen; sessions and reset codes go with the user row.
DELETE FROM users WHERE id = ?;
