-- The bookkeeping of migrate(): the migrations applied (one row per version) and the SHA-256
-- of each function file as last applied (see trigger_compat.core.migrations).
create schema if not exists {schema};
create table if not exists {schema}.migrations (
    version    integer primary key,
    name       text not null,
    applied_at timestamptz not null default now()
);
create table if not exists {schema}.migration_functions (
    name       text primary key,
    sha256     text not null,
    applied_at timestamptz not null default now()
)
