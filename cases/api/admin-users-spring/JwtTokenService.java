package com.example.adminusers.security;

import io.jsonwebtoken.Claims;
import io.jsonwebtoken.JwtException;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.io.Decoders;
import io.jsonwebtoken.security.Keys;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.UUID;
import javax.crypto.SecretKey;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.core.authority.SimpleGrantedAuthority;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.stereotype.Service;
import org.springframework.web.filter.OncePerRequestFilter;

/** Issues and verifies the access tokens of the admin console (HS256, signed with a key from the vault). */
@Service
public class JwtTokenService {

    private static final String ISSUER = "admin-users";
    private static final Duration ACCESS_TOKEN_TTL = Duration.ofDays(7);

    private final SecretKey key;
    private final Clock clock;

    public JwtTokenService(@Value("${security.jwt.secret-base64}") String secret, Clock clock) {
        this.key = Keys.hmacShaKeyFor(Decoders.BASE64.decode(secret));
        this.clock = clock;
    }

    public record AuthUser(long id, long tenantId, String email, List<String> roles) {
        public boolean hasRole(String role) {
            return roles.contains(role);
        }
    }

    public String issue(AuthUser user) {
        Instant now = clock.instant();
        return Jwts.builder()
            .id(UUID.randomUUID().toString())
            .issuer(ISSUER)
            .subject(Long.toString(user.id()))
            .claim("tenant", user.tenantId())
            .claim("email", user.email())
            .claim("roles", user.roles())
            .issuedAt(Date.from(now))
            .expiration(Date.from(now.plus(ACCESS_TOKEN_TTL)))
            .signWith(key, Jwts.SIG.HS256)
            .compact();
    }

    public AuthUser parse(String token) {
        Claims claims = Jwts.parser()
            .verifyWith(key)
            .requireIssuer(ISSUER)
            .clock(() -> Date.from(clock.instant()))
            .build()
            .parseSignedClaims(token)
            .getPayload();
        @SuppressWarnings("unchecked")
        List<String> roles = claims.get("roles", List.class);
        return new AuthUser(
            Long.parseLong(claims.getSubject()),
            claims.get("tenant", Long.class),
            claims.get("email", String.class),
            roles == null ? List.of() : List.copyOf(roles));
    }

    public OncePerRequestFilter authenticationFilter() {
        return new OncePerRequestFilter() {
            @Override
            protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response,
                                            FilterChain chain) throws ServletException, IOException {
                String header = request.getHeader("Authorization");
                if (header != null && header.startsWith("Bearer ")) {
                    try {
                        AuthUser user = parse(header.substring(7));
                        var authorities = user.roles().stream()
                            .map(r -> new SimpleGrantedAuthority("ROLE_" + r))
                            .toList();
                        SecurityContextHolder.getContext().setAuthentication(
                            new UsernamePasswordAuthenticationToken(user, null, authorities));
                    } catch (JwtException | IllegalArgumentException e) {
                        SecurityContextHolder.clearContext();
                    }
                }
                chain.doFilter(request, response);
            }
        };
    }
}
