import { ensurePrerequisites } from './prerequisites.js';

export default function setup(): void {
  ensurePrerequisites();
}
