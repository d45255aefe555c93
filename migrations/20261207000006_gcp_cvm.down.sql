-- Refuses to run while gcp-cvm measurements exist: deleting published measurements is not a migration's call.
ALTER TABLE measurements DROP CONSTRAINT measurements_platform_check;
ALTER TABLE measurements ADD CONSTRAINT measurements_platform_check CHECK (platform IN
    ('aws-nitro', 'sev-snp', 'tdx', 'gcp-confidential-space', 'azure-cvm'));
