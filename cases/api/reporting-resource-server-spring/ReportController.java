package com.acme.reporting.reports;

import com.acme.reporting.reports.ReportService.Granularity;
import com.acme.reporting.reports.ReportService.ReportDefinition;
import com.acme.reporting.reports.ReportService.RevenueSummary;
import com.acme.reporting.reports.ReportService.ScheduleRequest;
import com.acme.reporting.reports.ReportService.ScheduleView;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.Size;
import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.LocalDate;
import java.time.temporal.ChronoUnit;
import java.util.List;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.web.client.ClientHttpRequestFactories;
import org.springframework.boot.web.client.ClientHttpRequestFactorySettings;
import org.springframework.format.annotation.DateTimeFormat;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.access.prepost.PreAuthorize;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.stereotype.Component;
import org.springframework.validation.annotation.Validated;
import org.springframework.web.bind.annotation.*;
import org.springframework.web.client.RestClient;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

@RestController
@RequestMapping("/v1/reports")
@PreAuthorize("hasAuthority('SCOPE_reports:read')")
@Validated
public class ReportController {

    private final ReportService reports;
    private final RendererClient renderer;
    private final long maxRangeDays;

    public ReportController(ReportService reports, RendererClient renderer,
                            @Value("${reporting.export.max-range-days}") long maxRangeDays) {
        this.reports = reports;
        this.renderer = renderer;
        this.maxRangeDays = maxRangeDays;
    }

    @GetMapping("/definitions")
    public List<ReportDefinition> definitions() {
        return reports.reportDefinitions();
    }

    @GetMapping("/revenue")
    public RevenueSummary revenue(@AuthenticationPrincipal Jwt jwt,
                                  @RequestParam @DateTimeFormat(iso = DateTimeFormat.ISO.DATE) LocalDate from,
                                  @RequestParam @DateTimeFormat(iso = DateTimeFormat.ISO.DATE) LocalDate to,
                                  @RequestParam(defaultValue = "DAY") Granularity granularity) {
        checkRange(from, to);
        return reports.revenueSummary(tenant(jwt), from, to, granularity);
    }

    @GetMapping(value = "/revenue.pdf", produces = MediaType.APPLICATION_PDF_VALUE)
    public ResponseEntity<byte[]> revenuePdf(@AuthenticationPrincipal Jwt jwt,
                                             @RequestParam @DateTimeFormat(iso = DateTimeFormat.ISO.DATE) LocalDate from,
                                             @RequestParam @DateTimeFormat(iso = DateTimeFormat.ISO.DATE) LocalDate to,
                                             @RequestParam(defaultValue = "WEEK") Granularity granularity) {
        checkRange(from, to);
        RevenueSummary summary = reports.revenueSummary(tenant(jwt), from, to, granularity);
        byte[] pdf = renderer.render("revenue-summary", summary);
        return ResponseEntity.ok()
            .header(HttpHeaders.CONTENT_DISPOSITION, "attachment; filename=\"revenue-" + from + "-" + to + ".pdf\"")
            .body(pdf);
    }

    @GetMapping(value = "/orders/export", produces = "text/csv")
    public ResponseEntity<StreamingResponseBody> exportOrders(@AuthenticationPrincipal Jwt jwt,
            @RequestParam @DateTimeFormat(iso = DateTimeFormat.ISO.DATE) LocalDate from,
            @RequestParam @DateTimeFormat(iso = DateTimeFormat.ISO.DATE) LocalDate to,
            @RequestParam @NotEmpty @Size(max = 30) List<String> columns) {
        checkRange(from, to);
        String tenantId = tenant(jwt);
        StreamingResponseBody body = out -> {
            var writer = new BufferedWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8));
            reports.exportOrders(tenantId, from, to, columns, writer);
            writer.flush();
        };
        return ResponseEntity.ok()
            .header(HttpHeaders.CONTENT_DISPOSITION, "attachment; filename=\"orders-" + from + "-" + to + ".csv\"")
            .body(body);
    }

    @GetMapping("/schedules")
    public List<ScheduleView> schedules(@AuthenticationPrincipal Jwt jwt) {
        return reports.listSchedules(tenant(jwt));
    }

    @PostMapping("/schedules")
    @ResponseStatus(HttpStatus.CREATED)
    public ScheduleView createSchedule(@AuthenticationPrincipal Jwt jwt, @Valid @RequestBody ScheduleRequest req) {
        return reports.createSchedule(tenant(jwt), jwt.getSubject(), req);
    }

    @DeleteMapping("/schedules/{id}")
    @ResponseStatus(HttpStatus.NO_CONTENT)
    public void deleteSchedule(@AuthenticationPrincipal Jwt jwt, @PathVariable long id) {
        reports.deleteSchedule(tenant(jwt), id);
    }

    private void checkRange(LocalDate from, LocalDate to) {
        if (to.isBefore(from) || ChronoUnit.DAYS.between(from, to) > maxRangeDays) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "invalid date range");
        }
    }

    private static String tenant(Jwt jwt) {
        String tenant = jwt.getClaimAsString("tenant_id");
        if (tenant == null || tenant.isBlank()) {
            throw new ResponseStatusException(HttpStatus.FORBIDDEN, "token has no tenant");
        }
        return tenant;
    }
}

/** Client of the in-cluster PDF renderer. */
@Component
class RendererClient {

    private final RestClient client;

    RendererClient(RestClient.Builder builder,
                   @Value("${reporting.renderer.base-url}") String baseUrl,
                   @Value("${reporting.renderer.connect-timeout}") Duration connectTimeout,
                   @Value("${reporting.renderer.read-timeout}") Duration readTimeout) {
        this.client = builder
            .baseUrl(baseUrl)
            .requestFactory(ClientHttpRequestFactories.get(ClientHttpRequestFactorySettings.DEFAULTS
                .withConnectTimeout(connectTimeout)
                .withReadTimeout(readTimeout)))
            .build();
    }

    byte[] render(String template, Object model) {
        return client.post()
            .uri("/render/{template}", template)
            .contentType(MediaType.APPLICATION_JSON)
            .body(model)
            .retrieve()
            .body(byte[].class);
    }
}
