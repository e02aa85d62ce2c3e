/**
 * The rule language: schema (`schema.ts`), message parsing into what rules look
 * at (`message.ts`), the matcher (`matcher.ts`) and the planner (`planner.ts`).
 * Everything here is pure except parsing, which reads the stream it is given.
 */
export { isAutoReply, isBulk, isList, matchCondition, type Truth } from './matcher.ts';
export {
  type AttachmentInfo,
  type AttachmentPart,
  type EnvelopeFacts,
  type HeaderField,
  type MailAddress,
  MessageParseError,
  type ParsedMessage,
  parseMessage,
  type RuleInput,
  readAttachments,
  toRuleInput,
} from './message.ts';
export {
  type EvaluateOptions,
  type Evaluation,
  evaluate,
  type FolderTarget,
  folderTarget,
  needsBody,
  type PlannedAction,
  type PlannedActionKind,
  type RuleScope,
  ruleApplies,
} from './planner.ts';
export {
  type ActionConfig,
  actionSchema,
  type Condition,
  conditionSchema,
  isLoopbackHost,
  type Rule,
  type RuleConfigInput,
  type RuleSecretRef,
  ruleSchema,
  rulesSchema,
  SPECIAL_USES,
  type SpecialUse,
  type StringTest,
} from './schema.ts';
export { parseDuration, parseInstant, parseSize } from './units.ts';
