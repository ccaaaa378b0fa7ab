package com.hakobune.inventory

import java.util.UUID
import javax.sql.DataSource
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import org.slf4j.LoggerFactory

/** Returns the stock of holds that were neither committed nor released before expires_at. Started by InventoryServer. */
class ExpiredReservationSweeper(
    private val dataSource: DataSource,
    private val interval: Duration = 30.seconds,
    private val batchSize: Int = 500,
) {
    private val log = LoggerFactory.getLogger(ExpiredReservationSweeper::class.java)

    fun start(scope: CoroutineScope): Job = scope.launch(Dispatchers.IO) {
        while (isActive) {
            try {
                val expired = sweepOnce()
                if (expired > 0) log.info("expired {} reservations", expired)
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                log.error("reservation sweep failed", e)
            }
            delay(interval)
        }
    }

    fun sweepOnce(): Int = dataSource.connection.use { conn ->
        val ids = conn.prepareStatement(
            "SELECT id FROM reservations WHERE status = 'HELD' AND expires_at < now() ORDER BY expires_at LIMIT ?"
        ).use { ps ->
            ps.setInt(1, batchSize)
            ps.executeQuery().use { rs -> buildList { while (rs.next()) add(rs.getObject(1, UUID::class.java)) } }
        }
        for (id in ids) {
            conn.prepareStatement(ReservationService.RESTORE_STOCK_SQL).use { ps -> ps.setObject(1, id); ps.executeUpdate() }
            conn.prepareStatement("UPDATE reservations SET status = 'EXPIRED', updated_at = now() WHERE id = ?").use { ps ->
                ps.setObject(1, id)
                ps.executeUpdate()
            }
        }
        ids.size
    }
}
