package com.acme.reporting.reports;

import jakarta.validation.constraints.Email;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.Size;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.math.BigDecimal;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.List;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.scheduling.support.CronExpression;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.web.server.ResponseStatusException;

@Service
@Transactional(readOnly = true)
public class ReportService {

    /** Bucket expression per granularity; request values bind to these constants or the request fails with 400. */
    public enum Granularity {
        DAY("order_date"),
        WEEK("date_trunc('week', order_date)::date"),
        MONTH("date_trunc('month', order_date)::date");

        private final String bucketExpr;

        Granularity(String bucketExpr) {
            this.bucketExpr = bucketExpr;
        }
    }

    public record ReportDefinition(String id, String title, String description, List<String> columns) {}

    public record RevenueRow(LocalDate bucket, long orders, BigDecimal gross, BigDecimal refunds, BigDecimal net) {}

    public record RevenueSummary(String tenantId, LocalDate from, LocalDate to, Granularity granularity,
                                 List<RevenueRow> rows) {}

    public record ScheduleRequest(@NotBlank String reportId, @NotBlank String cron,
                                  @NotEmpty @Size(max = 20) List<@Email String> recipients) {}

    public record ScheduleView(long id, String reportId, String cron, List<String> recipients, String createdBy,
                               Instant createdAt) {}

    private static final String REVENUE_SQL = """
        select %s as bucket,
               count(*) as orders,
               coalesce(sum(gross_amount), 0) as gross,
               coalesce(sum(refunded_amount), 0) as refunds
          from order_facts
         where tenant_id = ? and order_date between ? and ?
         group by 1
         order by 1
        """;

    private final JdbcTemplate jdbc;
    private final ScheduleRepository schedules;
    private final int fetchSize;

    public ReportService(JdbcTemplate jdbc, ScheduleRepository schedules,
                         @Value("${reporting.export.fetch-size}") int fetchSize) {
        this.jdbc = jdbc;
        this.schedules = schedules;
        this.fetchSize = fetchSize;
    }

    /** report_definitions is the product-wide catalogue of report types; it is the same for every tenant. */
    @Cacheable("reportDefinitions")
    public List<ReportDefinition> reportDefinitions() {
        return jdbc.query(
            "select id, title, description, columns from report_definitions where enabled order by title",
            (rs, i) -> new ReportDefinition(rs.getString("id"), rs.getString("title"), rs.getString("description"),
                Arrays.asList((String[]) rs.getArray("columns").getArray())));
    }

    @Cacheable(cacheNames = "revenueSummary", key = "#from + ':' + #to + ':' + #granularity")
    public RevenueSummary revenueSummary(String tenantId, LocalDate from, LocalDate to, Granularity granularity) {
        List<RevenueRow> rows = jdbc.query(REVENUE_SQL.formatted(granularity.bucketExpr), (rs, i) -> {
            BigDecimal gross = rs.getBigDecimal("gross");
            BigDecimal refunds = rs.getBigDecimal("refunds");
            return new RevenueRow(rs.getObject("bucket", LocalDate.class), rs.getLong("orders"),
                gross, refunds, gross.subtract(refunds));
        }, tenantId, from, to);
        return new RevenueSummary(tenantId, from, to, granularity, rows);
    }

    public void exportOrders(String tenantId, LocalDate from, LocalDate to, List<String> columns, Writer out) {
        String sql = "select " + String.join(", ", columns)
            + " from order_facts where tenant_id = ? and order_date between ? and ? order by order_date, order_id";
        writeLine(out, columns);
        jdbc.query(con -> {
            PreparedStatement ps = con.prepareStatement(sql, ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY);
            ps.setFetchSize(fetchSize);
            ps.setString(1, tenantId);
            ps.setObject(2, from);
            ps.setObject(3, to);
            return ps;
        }, (ResultSet rs) -> {
            String[] values = new String[columns.size()];
            for (int i = 0; i < values.length; i++) {
                values[i] = rs.getString(i + 1);
            }
            writeLine(out, Arrays.asList(values));
        });
    }

    public List<ScheduleView> listSchedules(String tenantId) {
        return schedules.findByTenantIdOrderByCreatedAtDesc(tenantId).stream().map(ReportService::view).toList();
    }

    @Transactional
    public ScheduleView createSchedule(String tenantId, String createdBy, ScheduleRequest req) {
        if (!CronExpression.isValidExpression(req.cron())) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "invalid cron expression");
        }
        Integer known = jdbc.queryForObject(
            "select count(*) from report_definitions where id = ? and enabled", Integer.class, req.reportId());
        if (known == null || known == 0) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "unknown report");
        }
        ReportSchedule saved = schedules.save(
            new ReportSchedule(tenantId, req.reportId(), req.cron(), req.recipients(), createdBy));
        return view(saved);
    }

    @Transactional
    public void deleteSchedule(String tenantId, long id) {
        ReportSchedule schedule = schedules.findByIdAndTenantId(id, tenantId)
            .orElseThrow(() -> new ResponseStatusException(HttpStatus.NOT_FOUND, "schedule not found"));
        schedules.delete(schedule);
    }

    private static ScheduleView view(ReportSchedule s) {
        return new ScheduleView(s.getId(), s.getReportId(), s.getCron(), List.copyOf(s.getRecipients()),
            s.getCreatedBy(), s.getCreatedAt());
    }

    private static void writeLine(Writer out, List<String> values) {
        try {
            for (int i = 0; i < values.size(); i++) {
                if (i > 0) {
                    out.write(',');
                }
                String v = values.get(i) == null ? "" : values.get(i);
                if (v.indexOf(',') >= 0 || v.indexOf('"') >= 0 || v.indexOf('\n') >= 0) {
                    v = '"' + v.replace("\"", "\"\"") + '"';
                }
                out.write(v);
            }
            out.write('\n');
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
