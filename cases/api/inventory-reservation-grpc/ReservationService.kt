package com.hakobune.inventory

import com.google.protobuf.Timestamp
import com.hakobune.inventory.v1.CommitReservationRequest
import com.hakobune.inventory.v1.GetAvailabilityRequest
import com.hakobune.inventory.v1.GetAvailabilityResponse
import com.hakobune.inventory.v1.InventoryReservationServiceGrpcKt
import com.hakobune.inventory.v1.ReleaseReservationRequest
import com.hakobune.inventory.v1.Reservation
import com.hakobune.inventory.v1.ReservationLine
import com.hakobune.inventory.v1.ReservationStatus
import com.hakobune.inventory.v1.ReserveStockRequest
import com.hakobune.inventory.v1.SkuAvailability
import io.grpc.Status
import io.grpc.StatusException
import java.sql.Connection
import java.time.Instant
import java.util.UUID
import javax.sql.DataSource
import org.slf4j.LoggerFactory

private const val DEFAULT_TTL_SECONDS = 900
private const val MAX_TTL_SECONDS = 3600
private const val MAX_LINES = 100
private const val MAX_QUANTITY = 1000

class ReservationService(
    private val dataSource: DataSource,
) : InventoryReservationServiceGrpcKt.InventoryReservationServiceCoroutineImplBase() {

    private val log = LoggerFactory.getLogger(ReservationService::class.java)

    override suspend fun reserveStock(request: ReserveStockRequest): Reservation {
        val merchantId = MerchantAuthInterceptor.MERCHANT_ID.get()
        validate(request)
        val ttl = if (request.ttlSeconds > 0) minOf(request.ttlSeconds, MAX_TTL_SECONDS) else DEFAULT_TTL_SECONDS
        val id = UUID.randomUUID()
        val expiresAt = Instant.now().plusSeconds(ttl.toLong())

        dataSource.connection.use { conn ->
            // One conditional UPDATE per line: the row lock serialises concurrent holds on a SKU and
            // Postgres re-checks "available >= ?" on the latest row version, so stock never goes negative.
            conn.prepareStatement(
                "UPDATE stock SET available = available - ?, updated_at = now() " +
                    "WHERE merchant_id = ? AND sku = ? AND available >= ?"
            ).use { ps ->
                for (line in request.linesList) {
                    ps.setInt(1, line.quantity)
                    ps.setString(2, merchantId)
                    ps.setString(3, line.sku)
                    ps.setInt(4, line.quantity)
                    if (ps.executeUpdate() == 0) {
                        throw StatusException(Status.FAILED_PRECONDITION.withDescription("insufficient stock: ${line.sku}"))
                    }
                }
            }
            conn.prepareStatement(
                "INSERT INTO reservations (id, merchant_id, order_id, status, expires_at) VALUES (?, ?, ?, 'HELD', ?)"
            ).use { ps ->
                ps.setObject(1, id)
                ps.setString(2, merchantId)
                ps.setString(3, request.orderId)
                ps.setTimestamp(4, java.sql.Timestamp.from(expiresAt))
                ps.executeUpdate()
            }
            conn.prepareStatement("INSERT INTO reservation_lines (reservation_id, sku, quantity) VALUES (?, ?, ?)").use { ps ->
                for (line in request.linesList) {
                    ps.setObject(1, id)
                    ps.setString(2, line.sku)
                    ps.setInt(3, line.quantity)
                    ps.addBatch()
                }
                ps.executeBatch()
            }
        }
        log.info("reserved {} lines for order {} as {}", request.linesCount, request.orderId, id)
        return Reservation.newBuilder()
            .setReservationId(id.toString())
            .setOrderId(request.orderId)
            .addAllLines(request.linesList)
            .setStatus(ReservationStatus.RESERVATION_STATUS_HELD)
            .setExpiresAt(Timestamp.newBuilder().setSeconds(expiresAt.epochSecond))
            .build()
    }

    override suspend fun commitReservation(request: CommitReservationRequest): Reservation =
        inTransaction { conn ->
            val id = parseId(request.reservationId)
            val updated = conn.prepareStatement(
                "UPDATE reservations SET status = 'COMMITTED', updated_at = now() WHERE id = ? AND status = 'HELD'"
            ).use { ps -> ps.setObject(1, id); ps.executeUpdate() }
            val current = load(conn, id)
            if (updated == 0 && current.status != ReservationStatus.RESERVATION_STATUS_COMMITTED) {
                throw StatusException(Status.FAILED_PRECONDITION.withDescription("reservation is ${current.status}"))
            }
            current
        }

    override suspend fun releaseReservation(request: ReleaseReservationRequest): Reservation =
        inTransaction { conn ->
            val id = parseId(request.reservationId)
            val released = conn.prepareStatement(
                "UPDATE reservations SET status = 'RELEASED', updated_at = now() WHERE id = ? AND status = 'HELD'"
            ).use { ps -> ps.setObject(1, id); ps.executeUpdate() }
            if (released == 1) {
                conn.prepareStatement(RESTORE_STOCK_SQL).use { ps -> ps.setObject(1, id); ps.executeUpdate() }
                log.info("released {} ({})", id, request.reason)
            }
            val current = load(conn, id)
            if (current.status != ReservationStatus.RESERVATION_STATUS_RELEASED) {
                throw StatusException(Status.FAILED_PRECONDITION.withDescription("reservation is ${current.status}"))
            }
            current
        }

    override suspend fun getAvailability(request: GetAvailabilityRequest): GetAvailabilityResponse {
        val merchantId = MerchantAuthInterceptor.MERCHANT_ID.get()
        if (request.skusCount == 0) return GetAvailabilityResponse.getDefaultInstance()
        val skuList = request.skusList.joinToString(",") { "'$it'" }
        val sql = "SELECT sku, available FROM stock WHERE merchant_id = ? AND sku IN ($skuList)"
        val response = GetAvailabilityResponse.newBuilder()
        dataSource.connection.use { conn ->
            conn.prepareStatement(sql).use { ps ->
                ps.setString(1, merchantId)
                ps.executeQuery().use { rs ->
                    while (rs.next()) {
                        response.addItems(SkuAvailability.newBuilder().setSku(rs.getString(1)).setAvailable(rs.getInt(2)))
                    }
                }
            }
        }
        return response.build()
    }

    private fun load(conn: Connection, id: UUID): Reservation {
        val builder = conn.prepareStatement("SELECT order_id, status, expires_at FROM reservations WHERE id = ?").use { ps ->
            ps.setObject(1, id)
            ps.executeQuery().use { rs ->
                if (!rs.next()) throw StatusException(Status.NOT_FOUND.withDescription("reservation $id not found"))
                Reservation.newBuilder()
                    .setReservationId(id.toString())
                    .setOrderId(rs.getString("order_id"))
                    .setStatus(ReservationStatus.valueOf("RESERVATION_STATUS_" + rs.getString("status")))
                    .setExpiresAt(Timestamp.newBuilder().setSeconds(rs.getTimestamp("expires_at").toInstant().epochSecond))
            }
        }
        conn.prepareStatement("SELECT sku, quantity FROM reservation_lines WHERE reservation_id = ?").use { ps ->
            ps.setObject(1, id)
            ps.executeQuery().use { rs ->
                while (rs.next()) builder.addLines(ReservationLine.newBuilder().setSku(rs.getString(1)).setQuantity(rs.getInt(2)))
            }
        }
        return builder.build()
    }

    private fun <T> inTransaction(block: (Connection) -> T): T =
        dataSource.connection.use { conn ->
            conn.autoCommit = false
            try {
                block(conn).also { conn.commit() }
            } catch (e: Exception) {
                conn.rollback()
                throw e
            }
        }

    private fun validate(request: ReserveStockRequest) {
        fun invalid(msg: String) = StatusException(Status.INVALID_ARGUMENT.withDescription(msg))
        if (request.orderId.isBlank()) throw invalid("order_id is required")
        if (request.linesCount !in 1..MAX_LINES) throw invalid("lines must hold 1..$MAX_LINES items")
        request.linesList.forEach {
            if (it.sku.isBlank()) throw invalid("sku is required")
            if (it.quantity !in 1..MAX_QUANTITY) throw invalid("quantity must be 1..$MAX_QUANTITY")
        }
    }

    private fun parseId(raw: String): UUID =
        runCatching { UUID.fromString(raw) }.getOrElse {
            throw StatusException(Status.INVALID_ARGUMENT.withDescription("reservation_id must be a UUID"))
        }

    companion object {
        internal val RESTORE_STOCK_SQL = """
            UPDATE stock s SET available = s.available + l.quantity, updated_at = now()
              FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
             WHERE l.reservation_id = ? AND s.merchant_id = r.merchant_id AND s.sku = l.sku
        """.trimIndent()
    }
}
