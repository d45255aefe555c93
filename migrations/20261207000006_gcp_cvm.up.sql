-- GCP confidential VMs booted from mpr's UKI disk: vTPM PCRs 4, 9, 11 (and 12), like azure-cvm.
ALTER TABLE measurements DROP CONSTRAINT measurements_platform_check;
ALTER TABLE measurements ADD CONSTRAINT measurements_platform_check CHECK (platform IN
    ('aws-nitro', 'sev-snp', 'tdx', 'gcp-confidential-space', 'gcp-cvm', 'azure-cvm'));
