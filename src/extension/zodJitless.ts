// Imported first by extension.ts, before any module builds a zod schema. zod's compiled ("JIT") parsers probe
// `navigator` when a schema is built, and in VS Code's extension host reading `navigator` logs a
// PendingMigrationError at every activation. The extension parses only small configs: the plain parsers do.
import { z } from 'zod';

z.config({ jitless: true });
