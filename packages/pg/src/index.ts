/**
 * @packageDocumentation
 * A drop-in pg.Pool whose connections follow Vault database credentials through every renewal and rotation.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
