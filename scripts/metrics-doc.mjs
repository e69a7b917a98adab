#!/usr/bin/env node
// Rewrites the metric reference in README.md from src/metrics/definitions.ts (after `make ts`).
import fs from 'node:fs';
import { withReference } from '../dist/metrics/reference.js';

const path = new URL('../README.md', import.meta.url);
fs.writeFileSync(path, withReference(fs.readFileSync(path, 'utf8')));
