/**
 * Placeholder until the rule language lands (issue 3): rules are accepted as a
 * list and not yet evaluated.
 */
import { z } from 'zod';

export const rulesSchema = z.array(z.record(z.string(), z.unknown()));
