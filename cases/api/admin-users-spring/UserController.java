package com.example.adminusers.web;

import com.example.adminusers.security.JwtTokenService;
import com.example.adminusers.security.JwtTokenService.AuthUser;
import com.example.adminusers.service.UserService;
import com.example.adminusers.service.UserService.UserDetailsDto;
import com.example.adminusers.service.UserService.UserSummary;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Email;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.security.access.prepost.PreAuthorize;
import org.springframework.security.authentication.AuthenticationManager;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.validation.annotation.Validated;
import org.springframework.web.bind.annotation.*;

@RestController
@RequestMapping("/api")
@Validated
public class UserController {

    public record LoginRequest(@NotBlank @Email String email, @NotBlank String password) {}

    public record UpdateUserRequest(
        @Size(min = 1, max = 100) String displayName,
        @Pattern(regexp = "^[a-z]{2}(-[A-Z]{2})?$") String locale,
        @Pattern(regexp = "^\\+?[0-9 -]{6,20}$") String phone,
        Set<String> roles) {}

    public record RolesRequest(@NotEmpty Set<String> roles) {}

    private final UserService users;
    private final JwtTokenService tokens;
    private final AuthenticationManager authenticationManager;

    public UserController(UserService users, JwtTokenService tokens, AuthenticationManager authenticationManager) {
        this.users = users;
        this.tokens = tokens;
        this.authenticationManager = authenticationManager;
    }

    @PostMapping("/auth/login")
    public ResponseEntity<Map<String, Object>> login(@Valid @RequestBody LoginRequest req) {
        try {
            authenticationManager.authenticate(
                new UsernamePasswordAuthenticationToken(req.email(), req.password()));
        } catch (AuthenticationException e) {
            return ResponseEntity.status(HttpStatus.UNAUTHORIZED).body(Map.of("error", "invalid credentials"));
        }
        AuthUser user = users.recordLogin(req.email());
        return ResponseEntity.ok(Map.of("access_token", tokens.issue(user), "token_type", "Bearer"));
    }

    // --- self service ---

    @GetMapping("/users/me")
    public UserDetailsDto me(@AuthenticationPrincipal AuthUser me) {
        return users.get(me.id());
    }

    @PatchMapping("/users/me")
    public UserDetailsDto updateMe(@AuthenticationPrincipal AuthUser me, @Valid @RequestBody UpdateUserRequest req) {
        return users.update(me, me.id(), req);
    }

    // --- tenant administration (ADMIN, SUPPORT) ---

    @GetMapping("/admin/users")
    public List<UserSummary> search(@AuthenticationPrincipal AuthUser me,
                                    @RequestParam(required = false) @Size(max = 100) String q,
                                    @RequestParam(defaultValue = "created") String sort,
                                    @RequestParam(defaultValue = "0") @Min(0) int page,
                                    @RequestParam(defaultValue = "50") @Min(1) @Max(200) int size) {
        return users.search(me.tenantId(), q, sort, page, size);
    }

    @GetMapping("/admin/users/{id}")
    public UserDetailsDto get(@PathVariable long id) {
        return users.get(id);
    }

    @PatchMapping("/admin/users/{id}")
    @PreAuthorize("hasRole('ADMIN')")
    public UserDetailsDto update(@AuthenticationPrincipal AuthUser me, @PathVariable long id,
                                 @Valid @RequestBody UpdateUserRequest req) {
        return users.update(me, id, req);
    }

    @PutMapping("/admin/users/{id}/roles")
    @PreAuthorize("hasRole('ADMIN')")
    public UserDetailsDto changeRoles(@AuthenticationPrincipal AuthUser me, @PathVariable long id,
                                      @Valid @RequestBody RolesRequest req) {
        return users.changeRoles(me, id, req.roles());
    }

    @PostMapping("/admin/users/{id}/disable")
    @ResponseStatus(HttpStatus.NO_CONTENT)
    public void disable(@AuthenticationPrincipal AuthUser me, @PathVariable long id) {
        users.disable(me, id);
    }
}
