-- V14: stock holds for checkout (inventory-reservation service)

CREATE TABLE stock (
    merchant_id  text        NOT NULL,
    sku          text        NOT NULL,
    available    integer     NOT NULL CHECK (available >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, sku)
);

CREATE TABLE reservations (
    id           uuid        PRIMARY KEY,
    merchant_id  text        NOT NULL,
    order_id     text        NOT NULL,
    status       text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_lines (
    reservation_id uuid    NOT NULL REFERENCES reservations (id),
    sku            text    NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku)
);
