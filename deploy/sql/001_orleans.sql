-- Orleans ADO.NET provider schema for PostgreSQL 15+ (Microsoft.Orleans.Clustering.AdoNet,
-- Persistence.AdoNet and Reminders.AdoNet 10.4.2, Invariant "Npgsql").
--
-- Applied on every start under an advisory lock, so every statement is idempotent:
-- CREATE ... IF NOT EXISTS, CREATE OR REPLACE FUNCTION, and OrleansQuery rows upserted.
-- Every statement is transactional, so the whole file may also run in one transaction.
--
-- How the providers use this (checked against the 10.4.2 assemblies):
--   * At start-up each provider runs "SELECT QueryKey, QueryText FROM OrleansQuery" (unqualified,
--     so the connection's search_path must reach public) and then runs only those texts.
--   * Parameters are bound by name (@Name). Columns are read by name; Npgsql matches names
--     case-insensitively, so unquoted (lower-case) identifiers are fine.
--   * DateTime parameters carry DbType.DateTime and Kind=Utc, which Npgsql 6+ sends as
--     timestamptz. Reads get Kind=Utc back from timestamptz. So every time column is
--     timestamptz, and the server's TimeZone setting does not matter.
--   * Strings arrive as text, int as int4, long as int8, byte[] as bytea. Period is sent as int4
--     or int8 depending on size, so the column is bigint.
--
-- Changing this file later: CREATE TABLE IF NOT EXISTS never alters an existing table, so add
-- columns with ALTER TABLE ... ADD COLUMN IF NOT EXISTS. CREATE OR REPLACE FUNCTION cannot change
-- a function's argument types or return type; DROP FUNCTION IF EXISTS the old signature first.
-- Providers cache query texts at start-up, so a changed text takes effect only when silos restart.

-- ---------------------------------------------------------------------------------------------
-- Query catalog
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.OrleansQuery
(
    QueryKey  varchar(64) NOT NULL,
    QueryText text        NOT NULL,
    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
);

-- ---------------------------------------------------------------------------------------------
-- Clustering (membership). DeploymentId is the ClusterOptions.ClusterId.
-- ---------------------------------------------------------------------------------------------

-- One row per cluster. Version is the membership table's version (its ETag). Every membership
-- change (insert or update of a silo row) must bump it, conditional on the caller's version.
CREATE TABLE IF NOT EXISTS public.OrleansMembershipVersionTable
(
    DeploymentId text        NOT NULL,
    Timestamp    timestamptz NOT NULL DEFAULT now(),
    Version      integer     NOT NULL DEFAULT 0,
    CONSTRAINT PK_OrleansMembershipVersionTable_DeploymentId PRIMARY KEY (DeploymentId)
);

-- One row per silo incarnation (address, port, generation).
-- Status is Orleans' SiloStatus: 1 Created, 2 Joining, 3 Active, 4 ShuttingDown, 5 Stopping, 6 Dead.
-- SuspectTimes is Orleans' own "silo,time|silo,time" text of death votes.
CREATE TABLE IF NOT EXISTS public.OrleansMembershipTable
(
    DeploymentId text        NOT NULL,
    Address      text        NOT NULL,
    Port         integer     NOT NULL,
    Generation   integer     NOT NULL,
    SiloName     text        NOT NULL,
    HostName     text        NOT NULL,
    Status       integer     NOT NULL,
    ProxyPort    integer     NOT NULL,   -- gateway port; 0 when the silo is not a gateway
    SuspectTimes text        NULL,
    StartTime    timestamptz NOT NULL,
    IAmAliveTime timestamptz NOT NULL,
    CONSTRAINT PK_MembershipTable_DeploymentId PRIMARY KEY (DeploymentId, Address, Port, Generation),
    CONSTRAINT FK_MembershipTable_MembershipVersionTable_DeploymentId
        FOREIGN KEY (DeploymentId) REFERENCES public.OrleansMembershipVersionTable (DeploymentId)
);

-- Insert a silo row and bump the table version, both or neither.
-- Returns 1 on success, 0 when the version is stale or the row already exists.
-- The version row is updated first: its row lock serialises all membership writers of a cluster.
-- A failed insert raises ORL01, caught below, which rolls the version bump back. (The upstream
-- scripts use ASSERT for this, which silently stops working when plpgsql.check_asserts is off.)
CREATE OR REPLACE FUNCTION public.orleans_insert_membership(
    _deployment_id   text,
    _address         text,
    _port            integer,
    _generation      integer,
    _silo_name       text,
    _host_name       text,
    _status          integer,
    _proxy_port      integer,
    _start_time      timestamptz,
    _i_am_alive_time timestamptz,
    _version         integer)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
BEGIN
    BEGIN
        UPDATE public.OrleansMembershipVersionTable
        SET Version = Version + 1,
            Timestamp = now()
        WHERE DeploymentId = _deployment_id
          AND Version = _version;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;

        INSERT INTO public.OrleansMembershipTable
            (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, ProxyPort,
             StartTime, IAmAliveTime)
        VALUES
            (_deployment_id, _address, _port, _generation, _silo_name, _host_name, _status, _proxy_port,
             _start_time, _i_am_alive_time)
        ON CONFLICT (DeploymentId, Address, Port, Generation) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'membership row already exists' USING ERRCODE = 'ORL01';
        END IF;

        RETURN 1;
    EXCEPTION
        WHEN SQLSTATE 'ORL01' THEN
            RETURN 0;
    END;
END
$fn$;

-- Update a silo row and bump the table version, both or neither. Returns 1 or 0 as above.
-- IAmAliveTime never moves backwards: the caller's entry may carry a heartbeat time older than
-- one the silo itself has written since.
CREATE OR REPLACE FUNCTION public.orleans_update_membership(
    _deployment_id   text,
    _address         text,
    _port            integer,
    _generation      integer,
    _status          integer,
    _suspect_times   text,
    _i_am_alive_time timestamptz,
    _version         integer)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
BEGIN
    BEGIN
        UPDATE public.OrleansMembershipVersionTable
        SET Version = Version + 1,
            Timestamp = now()
        WHERE DeploymentId = _deployment_id
          AND Version = _version;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;

        UPDATE public.OrleansMembershipTable
        SET Status = _status,
            SuspectTimes = _suspect_times,
            IAmAliveTime = GREATEST(IAmAliveTime, _i_am_alive_time)
        WHERE DeploymentId = _deployment_id
          AND Address = _address
          AND Port = _port
          AND Generation = _generation;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'membership row does not exist' USING ERRCODE = 'ORL01';
        END IF;

        RETURN 1;
    EXCEPTION
        WHEN SQLSTATE 'ORL01' THEN
            RETURN 0;
    END;
END
$fn$;

-- ---------------------------------------------------------------------------------------------
-- Grain storage. ServiceId is ClusterOptions.ServiceId. GrainTypeString is what Orleans passes
-- as "grainType", which since Orleans 7 is the state name ([PersistentState("name", ...)]), not
-- the grain type: two grain classes that use the same state name, storage and key share a row.
-- N0/N1 hold Guid or integer keys; GrainIdExtensionString holds a string key or key extension.
-- Version is the state's ETag: 1 on first write, +1 on every write or clear.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.OrleansStorage
(
    GrainIdHash            integer     NOT NULL,
    GrainIdN0              bigint      NOT NULL,
    GrainIdN1              bigint      NOT NULL,
    GrainTypeHash          integer     NOT NULL,
    GrainTypeString        text        NOT NULL,
    GrainIdExtensionString text        NULL,
    ServiceId              text        NOT NULL,
    PayloadBinary          bytea       NULL,      -- NULL after ClearState (record kept, version kept)
    ModifiedOn             timestamptz NOT NULL DEFAULT now(),
    Version                integer     NOT NULL
);

-- At most one row per grain state: this is what makes a concurrent first write (two activations
-- of one grain) fail for all but one writer. The strings go in as md5 so that long keys cannot
-- exceed the btree entry size; NULLS NOT DISTINCT (PostgreSQL 15) makes a NULL extension a value.
-- The leading hash columns also serve the lookups.
CREATE UNIQUE INDEX IF NOT EXISTS UX_OrleansStorage_Grain
    ON public.OrleansStorage
    (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, ServiceId, md5(GrainTypeString), md5(GrainIdExtensionString))
    NULLS NOT DISTINCT;

-- Write with optimistic concurrency on Version. Returns the new version, or NULL on a conflict
-- (the provider then throws InconsistentStateException):
--   _grain_state_version NULL     -> the grain has never seen a row: insert version 1, unless a row exists;
--   _grain_state_version not NULL -> update only if the stored version still equals it.
CREATE OR REPLACE FUNCTION public.orleans_write_to_storage(
    _grain_id_hash             integer,
    _grain_id_n0               bigint,
    _grain_id_n1               bigint,
    _grain_type_hash           integer,
    _grain_type_string         text,
    _grain_id_extension_string text,
    _service_id                text,
    _grain_state_version       integer,
    _payload_binary            bytea)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    _new_version integer;
BEGIN
    IF _grain_state_version IS NULL THEN
        INSERT INTO public.OrleansStorage
            (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString, GrainIdExtensionString,
             ServiceId, PayloadBinary, ModifiedOn, Version)
        VALUES
            (_grain_id_hash, _grain_id_n0, _grain_id_n1, _grain_type_hash, _grain_type_string,
             _grain_id_extension_string, _service_id, _payload_binary, now(), 1)
        ON CONFLICT DO NOTHING
        RETURNING Version INTO _new_version;
    ELSE
        UPDATE public.OrleansStorage
        SET PayloadBinary = _payload_binary,
            ModifiedOn = now(),
            Version = Version + 1
        WHERE GrainIdHash = _grain_id_hash
          AND GrainTypeHash = _grain_type_hash
          AND GrainIdN0 = _grain_id_n0
          AND GrainIdN1 = _grain_id_n1
          AND ServiceId = _service_id
          AND GrainTypeString = _grain_type_string
          AND GrainIdExtensionString IS NOT DISTINCT FROM _grain_id_extension_string
          AND Version = _grain_state_version
        RETURNING Version INTO _new_version;
    END IF;

    RETURN _new_version;
END
$fn$;

-- ---------------------------------------------------------------------------------------------
-- Reminders. GrainHash is the grain's uniform hash as a signed int (the ring is read in signed
-- order). Period is in milliseconds. Version is the reminder's ETag.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.OrleansRemindersTable
(
    ServiceId    text        NOT NULL,
    GrainId      text        NOT NULL,
    ReminderName text        NOT NULL,
    StartTime    timestamptz NOT NULL,
    Period       bigint      NOT NULL,
    GrainHash    integer     NOT NULL,
    Version      integer     NOT NULL,
    CONSTRAINT PK_RemindersTable_ServiceId_GrainId_ReminderName PRIMARY KEY (ServiceId, GrainId, ReminderName)
);

-- Range reads by each silo's share of the ring.
CREATE INDEX IF NOT EXISTS IX_RemindersTable_ServiceId_GrainHash
    ON public.OrleansRemindersTable (ServiceId, GrainHash);

-- ---------------------------------------------------------------------------------------------
-- Query texts. Each starts with a comment naming its key, so it can be told apart in
-- pg_stat_activity, pg_stat_statements and the server log.
-- ---------------------------------------------------------------------------------------------

INSERT INTO public.OrleansQuery (QueryKey, QueryText)
VALUES

-- Clustering ----------------------------------------------------------------------------------

-- Creates the cluster's version row if missing. Returns 1 if created, else 0.
('InsertMembershipVersionKey', $q$/* Orleans InsertMembershipVersionKey */
WITH inserted AS (
    INSERT INTO public.OrleansMembershipVersionTable (DeploymentId)
    VALUES (@DeploymentId)
    ON CONFLICT (DeploymentId) DO NOTHING
    RETURNING 1
)
SELECT count(*)::integer FROM inserted;
$q$),

-- Heartbeat. Does not touch the table version. Nothing is returned or checked.
('UpdateIAmAlivetimeKey', $q$/* Orleans UpdateIAmAlivetimeKey */
UPDATE public.OrleansMembershipTable
SET IAmAliveTime = @IAmAliveTime
WHERE DeploymentId = @DeploymentId
  AND Address = @Address
  AND Port = @Port
  AND Generation = @Generation;
$q$),

-- Returns 1 (inserted, version bumped) or 0.
('InsertMembershipKey', $q$/* Orleans InsertMembershipKey */
SELECT public.orleans_insert_membership(
    @DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort,
    @StartTime, @IAmAliveTime, @Version);
$q$),

-- Returns 1 (updated, version bumped) or 0.
('UpdateMembershipKey', $q$/* Orleans UpdateMembershipKey */
SELECT public.orleans_update_membership(
    @DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes, @IAmAliveTime, @Version);
$q$),

-- The version row is the outer side, so one row comes back even when the silo has none
-- (its StartTime is then NULL, which the reader takes as "no entry").
('MembershipReadRowKey', $q$/* Orleans MembershipReadRowKey */
SELECT
    v.DeploymentId,
    m.Address,
    m.Port,
    m.Generation,
    m.SiloName,
    m.HostName,
    m.Status,
    m.ProxyPort,
    m.SuspectTimes,
    m.StartTime,
    m.IAmAliveTime,
    v.Version
FROM public.OrleansMembershipVersionTable v
LEFT JOIN public.OrleansMembershipTable m
    ON m.DeploymentId = v.DeploymentId
   AND m.Address = @Address
   AND m.Port = @Port
   AND m.Generation = @Generation
WHERE v.DeploymentId = @DeploymentId;
$q$),

('MembershipReadAllKey', $q$/* Orleans MembershipReadAllKey */
SELECT
    v.DeploymentId,
    m.Address,
    m.Port,
    m.Generation,
    m.SiloName,
    m.HostName,
    m.Status,
    m.ProxyPort,
    m.SuspectTimes,
    m.StartTime,
    m.IAmAliveTime,
    v.Version
FROM public.OrleansMembershipVersionTable v
LEFT JOIN public.OrleansMembershipTable m
    ON m.DeploymentId = v.DeploymentId
WHERE v.DeploymentId = @DeploymentId;
$q$),

-- Used by clients (and tools) to find gateways. @Status is Active (3).
('GatewaysQueryKey', $q$/* Orleans GatewaysQueryKey */
SELECT
    Address,
    ProxyPort,
    Generation
FROM public.OrleansMembershipTable
WHERE DeploymentId = @DeploymentId
  AND Status = @Status
  AND ProxyPort > 0;
$q$),

-- Removes a whole cluster's membership (tests and tooling only).
('DeleteMembershipTableEntriesKey', $q$/* Orleans DeleteMembershipTableEntriesKey */
DELETE FROM public.OrleansMembershipTable
WHERE DeploymentId = @DeploymentId;
DELETE FROM public.OrleansMembershipVersionTable
WHERE DeploymentId = @DeploymentId;
$q$),

-- Bulk cleanup, required at start-up but used only when CleanupDefunctSiloEntryKey is absent:
-- removes Dead rows that started and last heartbeated before the cut-off @IAmAliveTime.
-- Does not bump the table version (removing Dead rows changes no live silo's view).
('CleanupDefunctSiloEntriesKey', $q$/* Orleans CleanupDefunctSiloEntriesKey */
DELETE FROM public.OrleansMembershipTable
WHERE DeploymentId = @DeploymentId
  AND Status = 6
  AND IAmAliveTime < @IAmAliveTime
  AND StartTime < @IAmAliveTime;
$q$),

-- Optional; when present the provider reads all rows, picks the Dead ones past the cut-off
-- itself (including their death votes), and deletes each with this query only if the row
-- still holds exactly the values it read. Does not bump the table version.
('CleanupDefunctSiloEntryKey', $q$/* Orleans CleanupDefunctSiloEntryKey */
DELETE FROM public.OrleansMembershipTable
WHERE DeploymentId = @DeploymentId
  AND Address = @Address
  AND Port = @Port
  AND Generation = @Generation
  AND Status = 6
  AND StartTime = @StartTime
  AND IAmAliveTime = @IAmAliveTime
  AND SuspectTimes IS NOT DISTINCT FROM @SuspectTimes;
$q$),

-- Grain storage -------------------------------------------------------------------------------

-- Returns NewGrainStateVersion: the new version, or NULL on a version conflict.
('WriteToStorageKey', $q$/* Orleans WriteToStorageKey */
SELECT public.orleans_write_to_storage(
    @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
    @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary) AS NewGrainStateVersion;
$q$),

-- No row: the grain has no state (ETag NULL). PayloadBinary NULL: cleared state (ETag kept).
('ReadFromStorageKey', $q$/* Orleans ReadFromStorageKey */
SELECT
    PayloadBinary,
    Version
FROM public.OrleansStorage
WHERE GrainIdHash = @GrainIdHash
  AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0
  AND GrainIdN1 = @GrainIdN1
  AND ServiceId = @ServiceId
  AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString;
$q$),

-- ClearState (default, DeleteStateOnClear = false): keeps the row, drops the payload, bumps the
-- version. Returns the new version; no row on a version conflict.
('ClearStorageKey', $q$/* Orleans ClearStorageKey */
UPDATE public.OrleansStorage
SET PayloadBinary = NULL,
    ModifiedOn = now(),
    Version = Version + 1
WHERE GrainIdHash = @GrainIdHash
  AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0
  AND GrainIdN1 = @GrainIdN1
  AND ServiceId = @ServiceId
  AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
  AND Version = @GrainStateVersion
RETURNING Version AS NewGrainStateVersion;
$q$),

-- ClearState with DeleteStateOnClear = true: deletes the row. Returns the deleted version + 1
-- (the provider only checks it differs from the ETag); no row on a version conflict.
('DeleteStorageKey', $q$/* Orleans DeleteStorageKey */
DELETE FROM public.OrleansStorage
WHERE GrainIdHash = @GrainIdHash
  AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0
  AND GrainIdN1 = @GrainIdN1
  AND ServiceId = @ServiceId
  AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
  AND Version = @GrainStateVersion
RETURNING Version + 1 AS NewGrainStateVersion;
$q$),

-- Reminders -----------------------------------------------------------------------------------

('ReadReminderRowsKey', $q$/* Orleans ReadReminderRowsKey */
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM public.OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainId = @GrainId;
$q$),

-- Used when (int)BeginHash < (int)EndHash: the range (BeginHash, EndHash] does not wrap.
('ReadRangeRows1Key', $q$/* Orleans ReadRangeRows1Key */
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM public.OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainHash > @BeginHash
  AND GrainHash <= @EndHash;
$q$),

-- Otherwise the range wraps around (BeginHash = EndHash means the whole ring).
('ReadRangeRows2Key', $q$/* Orleans ReadRangeRows2Key */
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM public.OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND (GrainHash > @BeginHash OR GrainHash <= @EndHash);
$q$),

('ReadReminderRowKey', $q$/* Orleans ReadReminderRowKey */
SELECT GrainId, ReminderName, StartTime, Period, Version
FROM public.OrleansRemindersTable
WHERE ServiceId = @ServiceId
  AND GrainId = @GrainId
  AND ReminderName = @ReminderName;
$q$),

-- Returns the reminder's new Version: 0 when created, +1 on every update.
('UpsertReminderRowKey', $q$/* Orleans UpsertReminderRowKey */
INSERT INTO public.OrleansRemindersTable AS r
    (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
VALUES
    (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
SET StartTime = EXCLUDED.StartTime,
    Period = EXCLUDED.Period,
    GrainHash = EXCLUDED.GrainHash,
    Version = r.Version + 1
RETURNING r.Version;
$q$),

-- Deletes only if the ETag still matches. Returns true if a row was deleted.
('DeleteReminderRowKey', $q$/* Orleans DeleteReminderRowKey */
WITH deleted AS (
    DELETE FROM public.OrleansRemindersTable
    WHERE ServiceId = @ServiceId
      AND GrainId = @GrainId
      AND ReminderName = @ReminderName
      AND Version = @Version
    RETURNING 1
)
SELECT count(*) > 0 FROM deleted;
$q$),

-- Removes all of a service's reminders (tests and tooling only).
('DeleteReminderRowsKey', $q$/* Orleans DeleteReminderRowsKey */
DELETE FROM public.OrleansRemindersTable
WHERE ServiceId = @ServiceId;
$q$)

ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
