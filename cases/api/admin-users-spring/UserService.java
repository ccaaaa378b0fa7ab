package com.example.adminusers.service;

import com.example.adminusers.domain.AuditEntry;
import com.example.adminusers.domain.LoginEvent;
import com.example.adminusers.domain.Role;
import com.example.adminusers.domain.User;
import com.example.adminusers.repo.AuditLogRepository;
import com.example.adminusers.repo.LoginEventRepository;
import com.example.adminusers.repo.RoleRepository;
import com.example.adminusers.repo.UserRepository;
import com.example.adminusers.security.JwtTokenService.AuthUser;
import com.example.adminusers.web.UserController.UpdateUserRequest;
import jakarta.persistence.EntityManager;
import jakarta.persistence.TypedQuery;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.web.server.ResponseStatusException;

@Service
public class UserService {

    public record UserSummary(long id, String email, String displayName, boolean enabled,
                              Set<String> roles, Instant lastLoginAt) {}

    public record UserDetailsDto(long id, long tenantId, String email, String displayName, String locale,
                                 String phone, boolean enabled, Set<String> roles, Instant createdAt) {
        static UserDetailsDto of(User u) {
            return new UserDetailsDto(u.getId(), u.getTenantId(), u.getEmail(), u.getDisplayName(),
                u.getLocale(), u.getPhone(), u.isEnabled(), u.roleNames(), u.getCreatedAt());
        }
    }

    private static final Map<String, String> SORT_COLUMNS = Map.of(
        "created", "u.createdAt desc",
        "email", "u.email asc",
        "name", "u.displayName asc");

    private final UserRepository users;
    private final RoleRepository roles;
    private final LoginEventRepository loginEvents;
    private final AuditLogRepository audit;
    private final EntityManager em;

    public UserService(UserRepository users, RoleRepository roles, LoginEventRepository loginEvents,
                       AuditLogRepository audit, EntityManager em) {
        this.users = users;
        this.roles = roles;
        this.loginEvents = loginEvents;
        this.audit = audit;
        this.em = em;
    }

    private static String orderClause(String sort) {
        return " order by " + SORT_COLUMNS.getOrDefault(sort, SORT_COLUMNS.get("created")) + ", u.id";
    }

    @Transactional
    public AuthUser recordLogin(String email) {
        User user = users.findByEmailIgnoreCase(email).orElseThrow();
        loginEvents.save(new LoginEvent(user.getId(), Instant.now()));
        return new AuthUser(user.getId(), user.getTenantId(), user.getEmail(), List.copyOf(user.roleNames()));
    }

    @Transactional(readOnly = true)
    public UserDetailsDto get(long id) {
        return users.findById(id)
            .map(UserDetailsDto::of)
            .orElseThrow(() -> new ResponseStatusException(HttpStatus.NOT_FOUND, "user not found"));
    }

    @Transactional(readOnly = true)
    public List<UserSummary> search(long tenantId, String q, String sort, int page, int size) {
        StringBuilder jpql = new StringBuilder("select u from User u where u.tenantId = :tenantId");
        if (q != null && !q.isBlank()) {
            String term = q.strip().toLowerCase();
            jpql.append(" and (lower(u.email) like '%").append(term).append("%'")
                .append(" or lower(u.displayName) like '%").append(term).append("%')");
        }
        jpql.append(orderClause(sort));

        TypedQuery<User> query = em.createQuery(jpql.toString(), User.class)
            .setParameter("tenantId", tenantId)
            .setFirstResult(page * size)
            .setMaxResults(size);

        return query.getResultList().stream()
            .map(u -> new UserSummary(u.getId(), u.getEmail(), u.getDisplayName(), u.isEnabled(), u.roleNames(),
                loginEvents.findTopByUserIdOrderByCreatedAtDesc(u.getId())
                    .map(LoginEvent::getCreatedAt)
                    .orElse(null)))
            .toList();
    }

    @Transactional
    public UserDetailsDto update(AuthUser actor, long userId, UpdateUserRequest req) {
        User user = findInTenant(actor, userId);
        if (req.displayName() != null) {
            user.setDisplayName(req.displayName().strip());
        }
        if (req.locale() != null) {
            user.setLocale(req.locale());
        }
        if (req.phone() != null) {
            user.setPhone(req.phone());
        }
        if (req.roles() != null) {
            user.setRoles(resolveRoles(req.roles()));
        }
        return UserDetailsDto.of(user);
    }

    public UserDetailsDto changeRoles(AuthUser actor, long userId, Set<String> roleNames) {
        User user = findInTenant(actor, userId);
        Set<Role> newRoles = resolveRoles(roleNames);
        Set<String> before = Set.copyOf(user.roleNames());
        applyRoleChange(actor, user, before, newRoles);
        return UserDetailsDto.of(user);
    }

    @Transactional
    void applyRoleChange(AuthUser actor, User user, Set<String> before, Set<Role> newRoles) {
        user.setRoles(newRoles);
        users.save(user);
        audit.save(AuditEntry.roleChange(actor.id(), user.getId(), before, user.roleNames()));
    }

    @Transactional
    public void disable(AuthUser actor, long userId) {
        if (actor.id() == userId) {
            throw new ResponseStatusException(HttpStatus.CONFLICT, "cannot disable your own account");
        }
        User user = findInTenant(actor, userId);
        user.setEnabled(false);
        audit.save(AuditEntry.disabled(actor.id(), user.getId()));
    }

    private User findInTenant(AuthUser actor, long userId) {
        return users.findByIdAndTenantId(userId, actor.tenantId())
            .orElseThrow(() -> new ResponseStatusException(HttpStatus.NOT_FOUND, "user not found"));
    }

    private Set<Role> resolveRoles(Set<String> names) {
        Set<Role> found = new HashSet<>(roles.findByNameIn(names));
        if (found.size() != names.size()) {
            Set<String> known = found.stream().map(Role::getName).collect(Collectors.toSet());
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST,
                "unknown roles: " + names.stream().filter(n -> !known.contains(n)).sorted().toList());
        }
        return found;
    }
}
