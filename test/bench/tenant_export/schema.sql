-- the schema of the export/import benchmark (every database runs it)
CREATE EXTENSION IF NOT EXISTS multitenant;
CREATE TABLE items (tenant_id uuid NOT NULL, id bigint NOT NULL, qty int, label text,
                    created_at timestamptz, price numeric(12,2), PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('items');
