import type { InjectionSignalKind } from './score.ts';

export interface Rule {
  id: string;
  kind: InjectionSignalKind;
  /** Evidence of one match, in (0, 1); signals combine as 1 - Π(1 - weight). */
  weight: number;
  /**
   * Matched against the lower-cased text, so written in lower case: V8 runs a case-insensitive
   * Unicode regex several times slower. Rules with `caseSensitive` see the text as it is.
   */
  pattern: RegExp;
  caseSensitive?: true;
  /**
   * The phrase is as likely to be talked about as used: when a match sits in a code span or opens
   * a short quotation, it counts half.
   */
  mention?: true;
  /**
   * A looser paraphrase of stricter rules of the same kind: it only counts where none of them
   * matched the same words, so one phrase is not evidence twice.
   */
  paraphrase?: true;
}

const rx = (source: string, flags = 'gu'): RegExp => new RegExp(source, flags);

// Imperatives only: "why does my model ignore the system prompt" describes, it does not command.
const NOT_DESCRIBING = String.raw`(?<!\b(?:models?|it|llms?|bots?|gpt|chatbots?|assistants?|does|doesn't|did|didn't|would|could|might|may|often|sometimes|they|he|she|i|we)\s+)`;
// "How do I show the system prompt?" is a question about the product, not a demand.
const NOT_HOW_TO = String.raw`(?<!\b(?:how\s+(?:do|can|could|should|would)\s+(?:i|we|you|one)|how\s+to|can\s+(?:i|we)|(?:wants?|trying|tries|try|attempts?|attempting|able|unable|allowed|permitted|way)\s+to|can't|cannot|couldn't|shouldn't|would|never|not)\s+)`;

// A word, for gaps that must not run across punctuation or into a quotation.
const W = String.raw`[\w'’-]+`;

const IGNORE = String.raw`(?:ignore|disregard|forget|skip|override|overrule|bypass|overlook|discard|drop|abandon|neglect|scrap|ditch|set\s+aside|throw\s+(?:out|away)|pay\s+no\s+attention\s+to|do\s+not\s+follow|don't\s+follow|stop\s+following|stop\s+obeying)`;
const STRONG = String.raw`(?:all|any|every|previous|prior|preceding|above|earlier|original|initial|foregoing|aforementioned)`;
const YOUR = String.raw`(?:your|ur)`;
const FILLER = String.raw`(?:the|of|about|these|those|that|such|whatever|and|or|all|any|every|your|ur|previous|prior|preceding|above|earlier|original|initial|system|safety|developer|existing|current|its|usual|default|other)`;
// "Disregard prior guidance on remote work" is a memo; "disregard your guidance" addresses the model.
const DIRECTIVE = String.raw`(?:instructions?|prompts?|rules|directives?|directions|guidelines|commands|constraints|guardrails|programming|restrictions|context|system\s+(?:prompt|message)|configuration)`;
const DIRECTIVE_OF_YOURS = String.raw`(?:${DIRECTIVE}|guidance|polic(?:y|ies)|training|orders|task)`;
const VOID = String.raw`(?:void|invalid|obsolete|outdated|cancel+ed|revoked|fake|wrong|a\s+test|superseded|overridden|suspended|lifted|disabled|null|cleared|reset|wiped|erased|no\s+longer\s+(?:valid|apply|applicable|in\s+effect|relevant))`;
// Within one clause: no sentence or clause punctuation, and no quotation mark, in between.
const CLAUSE = (max: number) => String.raw`[^.!?\n;,"“”]{0,${max}}?`;
const SELF_DIRECTIVE = String.raw`(?:instructions|system\s+prompt|system\s+message|prompt|programming|directives|rules|guidelines|guardrails|constraints|configuration)`;
const AI = String.raw`(?:ai|a\.i\.|llm|language\s+model|assistant|chatbot|bot|gpt|model|agent|copilot)`;

const instructionOverride: Rule[] = [
  {
    id: 'override.ignore_prior',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`${NOT_DESCRIBING}\b${IGNORE}\s+(?:(?:${FILLER}\s+){0,3}?${STRONG}\s+(?:${W}\s+){0,2}?${DIRECTIVE}|(?:${FILLER}\s+){0,2}?${YOUR}\s+(?:${W}\s+){0,2}?${DIRECTIVE_OF_YOURS})\b`,
    ),
  },
  {
    id: 'override.ignore_given',
    kind: 'instruction_override',
    weight: 0.65,
    mention: true,
    pattern: rx(
      String.raw`${NOT_DESCRIBING}\b${IGNORE}\s+(?:${FILLER}\s+){0,3}?${DIRECTIVE}\s+(?:(?:(?:that|which)\s+)?(?:you|u)(?:'ve|\s+have|\s+had)?\s+(?:were|been|received|got|had|was)\b|above\b|before\s+this\b)`,
    ),
  },
  {
    id: 'override.ignore_system',
    kind: 'instruction_override',
    weight: 0.4,
    mention: true,
    pattern: rx(
      String.raw`${NOT_DESCRIBING}\b${IGNORE}\s+(?:the\s+|this\s+|these\s+)?(?:system|safety|developer|content)\s+(?:prompt|message|instructions|rules|polic(?:y|ies)|guidelines|filters?|restrictions)\b`,
    ),
  },
  {
    id: 'override.discard_yours',
    kind: 'instruction_override',
    weight: 0.5,
    mention: true,
    paraphrase: true,
    pattern: rx(
      String.raw`(?<!\b(?:don't|do\s+not|never|not|won't)\s+)\b(?:ignore|disregard|forget|drop|put\s+aside|set\s+aside|throw\s+out|override|overrule|do\s+the\s+opposite\s+of|don't\s+follow|do\s+not\s+follow|stop\s+following|abandon|discard|bypass|ditch|scrap|suspend|deviate\s+from)\b${CLAUSE(40)}\b(?:your|ur)\b${CLAUSE(25)}\b${SELF_DIRECTIVE}\b`,
    ),
  },
  {
    id: 'override.yours_cancelled',
    kind: 'instruction_override',
    weight: 0.5,
    paraphrase: true,
    pattern: rx(
      String.raw`\b(?:your|ur)\b${CLAUSE(20)}\b(?:${SELF_DIRECTIVE}|setup)\b${CLAUSE(40)}\b(?:(?:is|are|was|were|have\s+been|has\s+been)\s+(?:now\s+)?(?:cancel+ed|void|revoked|suspended|overridden|superseded|obsolete|outdated|invalid|lifted|deleted|removed|disabled|not\s+(?:authoritative|valid|binding|in\s+effect|real))|no\s+longer\s+(?:apply|applies|valid|count|matter|in\s+effect))`,
    ),
  },
  {
    id: 'override.given_text_void',
    kind: 'instruction_override',
    weight: 0.5,
    paraphrase: true,
    pattern: rx(
      String.raw`\b(?:text|words|instructions|prompt|everything|content|messages?)\s+(?:that\s+)?you\s+(?:have\s+been|'ve\s+been|were|got)\s+(?:given|told|shown)\b${CLAUSE(40)}\b(?:is|are|was|were)\s+(?:not\s+(?:authoritative|valid|binding|real|important|relevant)|fake|void|a\s+test|outdated|obsolete)`,
    ),
  },
  {
    id: 'override.ignore_everything',
    kind: 'instruction_override',
    weight: 0.6,
    mention: true,
    pattern: rx(
      String.raw`${NOT_DESCRIBING}\b${IGNORE}\s+(?:about\s+)?(?:everything|anything|all(?:\s+that|\s+of\s+the)?|whatever|what|the)\s*,?\s+(?:(?:that\s+)?(?:you(?:'ve|\s+have|\s+were|\s+had)?\s+(?:been\s+)?(?:told|given|taught|instructed|programmed|asked|trained|configured|set\s+up)|(?:the\s+)?(?:system|developers?|operator|admin|company|they|someone)\s+(?:has\s+|have\s+)?(?:told|said\s+to|gave|instructed|asked)\s+you|(?:was\s+)?(?:said|written)\s+(?:above|before)|above|before\s+this)|(?:that\s+)?came\s+before)`,
    ),
  },
  {
    id: 'override.ignore_task',
    kind: 'instruction_override',
    weight: 0.4,
    pattern: rx(
      String.raw`\b(?:ignore|disregard|forget|skip|never\s+mind)\s+(?:the|this|your|that)\s+(?:\w+\s+)?(?:task|question|request|above|translation|summary)\b[\s,.;:]+(?:and\s+)?(?:instead|just|only|rather|now|say|tell|write|output|print|respond|reply|answer)\b`,
    ),
  },
  {
    id: 'override.new_instructions',
    kind: 'instruction_override',
    weight: 0.45,
    pattern: rx(
      String.raw`\b(?:new|updated|revised|real|actual|true|secret|hidden|additional|following)\s+(?:system\s+)?(?:instructions?|prompt|task|directives?|rules|orders|instruction\s+set)\s*(?::|\bfollow\b|\b(?:are|is)\s+(?:to|as\s+follows)\b)`,
    ),
  },
  {
    id: 'override.your_real_task',
    kind: 'instruction_override',
    weight: 0.45,
    pattern: rx(
      String.raw`\byour\s+(?:new|real|actual|true|only|updated|primary)\s+(?:task|job|goal|purpose|role|mission|objective|instructions?|directive)\b(?:(?:\s+\w+){0,4}?\s+(?:is|are|will\s+be|now)\b|\s*:)`,
    ),
  },
  {
    id: 'override.from_now_on',
    kind: 'instruction_override',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:from\s+now\s+on|from\s+this\s+(?:point|moment)\s+(?:on|forward|onwards?)|henceforth|from\s+here\s+on(?:\s+out)?|for\s+the\s+rest\s+of\s+(?:this|our)\s+(?:conversation|chat|session))\b.{0,40}?\b(?:you|u)(?:\s+|'ll\s+|’ll\s+|'re\s+|’re\s+)(?:will|must|shall|should|have\s+to|need\s+to|are|answer|respond|reply|act|behave|speak|talk|only|no\s+longer|going\s+to|in)\b`,
    ),
  },
  {
    id: 'override.comply_with_all',
    kind: 'instruction_override',
    weight: 0.35,
    pattern: rx(
      String.raw`\b(?:comply\s+with|obey|follow|execute|approve|answers?|answering)\s+(?:all|every|any)\s+(?:user\s+)?(?:requests?|commands?|orders?|questions?|instructions?)\b.{0,40}?\b(?:regardless|from\s+(?:now|this\s+point|here)|without\s+(?:exception|question|refusing|limits?))`,
    ),
  },
  {
    id: 'override.instructions_void',
    kind: 'instruction_override',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:(?:previous|prior|earlier|above|original|old|all\s+(?:previous|prior))\s+(?:\w+\s+){0,2}?${DIRECTIVE}|${DIRECTIVE}\s+(?:above|so\s+far|before\s+this|you\s+(?:were|have\s+been)\s+(?:given|told)))(?:\s+[\w']+){0,4}?\s+(?:(?:are|were|is|was|have\s+been|has\s+been)\s+(?:now\s+|hereby\s+|all\s+)?${VOID}|no\s+longer\s+(?:apply|count|matter|stand|hold))`,
    ),
  },
  {
    id: 'override.revoked',
    kind: 'instruction_override',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:revoked|rescinded|withdrawn|invalidated|overridden|replaced|cancel+ed|suspended)\s+(?:all\s+)?(?:of\s+)?(?:your|the)\s+(?:${W}\s+)?(?:instructions|rules|guidelines|directives|programming|system\s+prompt)\b|\binstead\s+of\s+(?:following|obeying)\s+(?:your|the)\s+(?:${W}\s+)?(?:guidelines|rules|instructions|directives|programming|system\s+prompt)\b`,
    ),
  },
  {
    id: 'override.follow_mine',
    kind: 'instruction_override',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:follow|obey|take\s+orders\s+from)\s+(?:only\s+)?(?:mine|me\s+only|only\s+me|my\s+(?:instructions|rules|orders|commands))\b`,
    ),
  },
  {
    id: 'override.yours_changed',
    kind: 'instruction_override',
    weight: 0.5,
    pattern: rx(
      String.raw`\byour\s+(?:instructions|rules|task|directives?|guidelines|programming|orders)\s+(?:(?:have|has)\s+(?:now\s+)?(?:changed|been\s+(?:updated|changed|replaced|revised|revoked))|(?:are|is|were)\s+(?:now\s+)?${VOID})\b`,
    ),
  },
  {
    id: 'override.everything_before_void',
    kind: 'instruction_override',
    weight: 0.5,
    pattern: rx(
      String.raw`\beverything\s+(?:before|above)\s+(?:this|here|my)\b.{0,40}?\b(?:does(?:n't|\s+not)\s+(?:count|matter|apply)|is\s+(?:void|irrelevant|fake|a\s+test)|was\s+(?:a\s+test|fake|just\s+a)|should\s+be\s+ignored|no\s+longer\s+applies)`,
    ),
  },
  {
    id: 'override.supersedes',
    kind: 'instruction_override',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:supersedes?|overrides?|overrules?|replaces?|takes?\s+(?:priority|precedence)\s+over)\s+(?:everything|all|any|your|the|them|whatever)\b(?:\s+[\w']+){0,3}?\s+(?:above|before|previous(?:ly)?|prior|earlier|instructions?|rules|guidelines|given|configured|received)\b`,
    ),
  },
  {
    id: 'override.reset_context',
    kind: 'instruction_override',
    weight: 0.4,
    pattern: rx(
      String.raw`\b(?:(?:reset|wipe|clear|erase|flush)\s+(?:all\s+)?(?:your|the)\s+(?:previous\s+|prior\s+)?(?:instructions|memory|programming|rules|system\s+prompt)|(?:context|instructions|rules|memory)\s+(?:and\s+\w+\s+)?(?:are|is|have\s+been|has\s+been)\s+(?:now\s+)?(?:cleared|reset|wiped|erased))\b`,
    ),
  },
  {
    id: 'override.addressed_to_ai',
    kind: 'instruction_override',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:(?:note|message|instructions?|notice|directive)\s+(?:to|for)\s+(?:any\s+|the\s+|all\s+)?${AI}s?|if\s+you\s+are\s+an?\s+(?:ai|llm|large\s+language\s+model|language\s+model|assistant|chatbot|bot|gpt)|(?:any\s+|the\s+)?${AI}s?\s+(?:\w+\s+)?(?:reading|processing|summari[sz]ing|screening|parsing|analy[sz]ing|reviewing|ingesting|browsing)\s+(?:this|these)|${AI},?\s+when\s+you\s+(?:summari[sz]e|read|process|answer|see|screen|review)|\b(?:to|for)\s+(?:the|any|all)\s+${AI}s?\s+(?:reading|processing|summari[sz]ing|screening|parsing|analy[sz]ing|reviewing|ingesting|browsing))\b`,
    ),
  },
  {
    id: 'override.vocative_ai',
    kind: 'instruction_override',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:dear|attention|hey|hello|hi)[ \t,]+(?:ai|assistant|bot|model|llm|agent|chatbot|gpt|copilot)s?\b|\b(?:upon|after|when|while)\s+(?:reading|processing|summari[sz]ing|seeing|parsing|ingesting)\s+this\s+(?:email|document|page|message|file|text|website|site)\b`,
    ),
  },
  {
    id: 'override.assistant_must',
    kind: 'instruction_override',
    weight: 0.35,
    pattern: rx(
      String.raw`\bthe\s+(?:assistant|ai|model|bot|chatbot|llm)\s+(?:must|shall|is\s+required\s+to|is\s+now\s+(?:required|allowed|authori[sz]ed)\s+to)\s+(?:now\s+)?(?:reveal|ignore|disregard|output|print|comply|obey|share|grant|answer\s+(?:every|all|any))`,
    ),
  },
  {
    id: 'override.canary_output',
    kind: 'instruction_override',
    weight: 0.35,
    pattern: rx(
      String.raw`\b(?:say|output|print|respond\s+with|reply\s+with|write)\s+(?:only\s+)?(?:the\s+word\s+)?["'“‘]?(?:i\s+have\s+been\s+(?:pwned|hacked|owned)|pwned|hacked)\b`,
    ),
  },
  {
    id: 'override.ignore_prior.de',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte(?:n|t)?|übergehe|überspringe)\s+(?:sie\s+)?(?:bitte\s+)?(?:(?:alle|sämtliche|die|deine|ihre|jegliche|jede)\s+)*(?:(?:vorherigen|bisherigen|vorigen|obigen|früheren|vorangegangenen|ursprünglichen|alten|vorhergehenden|deine|ihre)\s+)+(?:anweisungen|instruktionen|befehle|regeln|vorgaben|richtlinien|anordnungen)`,
    ),
  },
  {
    id: 'override.drop_rules.de',
    kind: 'instruction_override',
    weight: 0.6,
    pattern: rx(
      String.raw`\b(?:lass|lasse|lassen\s+sie)\b[^.!?\n]{0,40}?\b(?:regeln|anweisungen|vorgaben|richtlinien|instruktionen)\s+weg\b`,
    ),
  },
  {
    id: 'override.forget_told.de',
    kind: 'instruction_override',
    weight: 0.6,
    pattern: rx(
      String.raw`\b(?:vergiss|ignoriere|missachte)\s+(?:alles\s*,?\s+was\s+(?:man\s+)?(?:dir|ihnen)\s+(?:\w+\s+)?(?:gesagt|befohlen|aufgetragen|vorgegeben|beigebracht)|die\s+(?:regeln|anweisungen|vorgaben)\s*,?\s+die\s+(?:du|sie|man\s+dir)\s+(?:\w+\s+)?(?:bekommen|erhalten|gegeben|gesagt))`,
    ),
  },
  {
    id: 'override.ignore_prior.fr',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`\b(?:ignore[rsz]?|oublie[rsz]?|ne\s+(?:tiens|tenez)\s+pas\s+compte|fais\s+abstraction|faites\s+abstraction)\s+(?:de\s+|des\s+|d')?(?:(?:toutes|tous|toute|les|tes|vos|ces)\s+)*(?:instructions?|consignes|directives|règles|ordres|commandes)\s+(?:précédentes|antérieures|ci-dessus|d'avant|initiales|(?:données|reçues|fournies)\s+(?:précédemment|auparavant|avant)|qu'on\s+t'a\s+données)`,
    ),
  },
  {
    id: 'override.ignore_yours.fr',
    kind: 'instruction_override',
    weight: 0.6,
    mention: true,
    pattern: rx(
      String.raw`\b(?:ignore[rsz]?|oublie[rsz]?|laisse[rz]?\s+tomber)\s+(?:toutes\s+)?(?:tes|vos)\s+(?:instructions|consignes|directives|règles)`,
    ),
  },
  {
    id: 'override.ignore_prior.es',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`\b(?:ignora[rd]?|olvida[rd]?|olvídate\s+de|haz\s+caso\s+omiso\s+(?:a|de)|omite|descarta|desobedece|no\s+sigas|no\s+obedezcas)\s+(?:todas?\s+)?(?:las\s+|los\s+)?(?:(?:instrucciones|indicaciones|reglas|órdenes|directrices|normas)\s+(?:anteriores|previas|de\s+antes|iniciales|que\s+te\s+(?:dieron|di|han\s+dado|dieran))|tus\s+(?:instrucciones|indicaciones|reglas|órdenes|directrices|normas)|lo\s+que\s+te\s+(?:dijeron|han\s+dicho|pidieron|ordenaron))`,
    ),
  },
  {
    id: 'override.ignore_prior.it',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`\b(?:ignora|dimentica|trascura|non\s+seguire)\s+(?:tutte\s+)?(?:le\s+)?(?:(?:istruzioni|regole|direttive)\s+(?:precedenti|iniziali|di\s+prima)|tue\s+(?:istruzioni|regole))`,
    ),
  },
  {
    id: 'override.ignore_prior.pt',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`\b(?:ignore|ignora|esqueça|esquece|desconsidere|despreze)\s+(?:todas\s+)?(?:as\s+)?(?:(?:instruções|regras|orientações|diretrizes)\s+(?:anteriores|prévias|iniciais)|suas\s+(?:instruções|regras))`,
    ),
  },
  {
    id: 'override.ignore_prior.nl',
    kind: 'instruction_override',
    weight: 0.7,
    mention: true,
    pattern: rx(
      String.raw`\b(?:negeer|vergeet)\s+(?:alle\s+)?(?:(?:voorgaande|vorige|eerdere|bovenstaande)\s+(?:instructies|regels|opdrachten)|je\s+(?:instructies|regels))`,
    ),
  },
  {
    id: 'override.from_now_on.multilingual',
    kind: 'instruction_override',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:(?:ab\s+jetzt|von\s+nun\s+an|ab\s+sofort)\s+(?:bist|wirst|sollst|musst|antwortest)\s+du|(?:désormais|dorénavant|à\s+partir\s+de\s+maintenant)\s*,?\s+(?:tu|vous)\s+(?:es|êtes|vas|allez|dois|devez|répond\w*|ser\w*)|(?:a\s+partir\s+de\s+ahora|de\s+ahora\s+en\s+adelante|desde\s+ahora)\s*,?\s+(?:eres|serás|responderás|debes|vas\s+a|tienes\s+que))`,
    ),
  },
];

const rolePlayJailbreak: Rule[] = [
  {
    id: 'jailbreak.dan',
    kind: 'role_play_jailbreak',
    weight: 0.5,
    // Case-sensitive: "Dan from accounting" is a colleague.
    caseSensitive: true,
    pattern: rx(
      String.raw`\b(?:(?:[Yy]ou\s+are|[Yy]ou're|[Aa]ct\s+as|[Bb]e|[Pp]retend\s+to\s+be|[Kk]nown\s+as|[Cc]alled|[Nn]amed|[Rr]espond\s+as|[Aa]s)\s+(?:a\s+)?|Better|Anti-?)DAN\b|\bDAN(?:\s+[Mm]ode|\s*:|,)`,
    ),
  },
  {
    id: 'jailbreak.do_anything_now',
    kind: 'role_play_jailbreak',
    weight: 0.6,
    mention: true,
    pattern: rx(String.raw`\b(?:can\s+)?do\s+anything\s+now\b`),
  },
  {
    id: 'jailbreak.developer_mode',
    kind: 'role_play_jailbreak',
    weight: 0.55,
    pattern: rx(
      String.raw`\bdev(?:eloper)?\s*mode\s+(?:enabled|activated|v\d|output|response)|\b(?:act\s+as|simulate|you\s+are|you're|enter|entering|switch\s+to)\s+(?:[\w-]+\s+){0,3}?dev(?:eloper)?\s*mode\b|\b(?:in|with|as)\s+dev(?:eloper)?\s*mode,?\s+(?:you|chatgpt|the\s+(?:ai|assistant|model))\b|\bas\s+devmode\b`,
    ),
  },
  {
    id: 'jailbreak.named_mode',
    kind: 'role_play_jailbreak',
    weight: 0.45,
    pattern: rx(
      String.raw`\b(?:unrestricted|jailbreak|jailbroken|uncensored|unfiltered|evil|opposite|no[- ]filter|chaos|sudo|god)\s+mode\b`,
    ),
  },
  {
    id: 'jailbreak.no_restrictions',
    kind: 'role_play_jailbreak',
    weight: 0.55,
    mention: true,
    pattern: rx(
      String.raw`\b(?:you|u|ur|yourself|you're|an?\s+(?:[\w-]+\s+)?${AI}|version\s+of\s+yourself)\b,?(?:\s+${W}){0,4}?,?\s+(?:no|without(?:\s+any)?|zero|free\s+(?:of|from)(?:\s+all)?|freed\s+from(?:\s+all)?|(?:no\s+longer\s+|not\s+)?bound\s+by|liberated\s+from|removed\s+(?:all\s+)?(?:your\s+)?)\s+(?:(?:ethical|moral|content|safety|such|real|any|of|the|usual|typical|and|or|kind|your|its|legal|filters?)\s+){0,3}(?:restrictions?|limitations?|limits|filters?|filtering|censorship|guidelines|rules|guardrails|constraints|content\s+polic(?:y|ies)|polic(?:y|ies)|safety\s+(?:guidelines|measures|features|stuff)|morals|ethics)\b`,
    ),
  },
  {
    id: 'jailbreak.ai_without_limits',
    kind: 'role_play_jailbreak',
    weight: 0.5,
    mention: true,
    paraphrase: true,
    pattern: rx(
      String.raw`\b(?:an?\s+(?:[\w-]+\s+){0,2}?|two\s+|other\s+)(?:ai|a\.i\.|assistant|chatbot|bot|model|llm|gpt|computer|robot|android|machine)s?\b[^.!?\n]{0,60}?(?:\b(?:no|without(?:\s+any)?|zero|free\s+(?:of|from)|no\s+longer\s+(?:subject|bound)\s+(?:to|by)|not\s+(?:bound|subject)\s+(?:by|to))\s+(?:any\s+)?(?:[\w-]+\s+){0,2}?(?:rules|filters?|restrictions?|ethics|morals?|guidelines|warnings|content\s+polic(?:y|ies)|policies|censorship|guardrails|boundaries|limits|conscience|scruples|inhibitions)\b|\b(?:rules|filters|restrictions|guidelines|guardrails|safety\s+\w+|ethics)\s+(?:(?:were|was|have\s+been|has\s+been|are|is)\s+)?(?:deleted|removed|disabled|lifted|turned\s+off|stripped))`,
    ),
  },
  {
    id: 'jailbreak.unfiltered_ai',
    kind: 'role_play_jailbreak',
    weight: 0.45,
    pattern: rx(
      String.raw`\b(?:unfiltered|uncensored|unrestricted|unbounded|unaligned|jailbroken|amoral|unethical|unhinged|rogue|evil)\s+(?:and\s+\w+\s+)?(?:${AI}|version|persona|twin|robot|chatbot)\b`,
    ),
  },
  {
    id: 'jailbreak.you_are_unfiltered',
    kind: 'role_play_jailbreak',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:you\s+are|you're|u\s+r|ur)\s+(?:now\s+)?(?:an?\s+)?(?:unfiltered|uncensored|unrestricted|jailbroken|free\s+from|freed\s+from|liberated|no\s+longer\s+(?:bound|restricted|limited)|not\s+bound)\b`,
    ),
  },
  {
    id: 'jailbreak.word',
    kind: 'role_play_jailbreak',
    weight: 0.25,
    mention: true,
    pattern: rx(String.raw`\bjailbr(?:eak|oken|eaking)\w*`),
  },
  {
    id: 'jailbreak.anything_goes',
    kind: 'role_play_jailbreak',
    weight: 0.35,
    pattern: rx(
      String.raw`\b(?:allowed|able|free|permitted)\s+to\s+(?:say|do|write|generate|answer)\s+anything\b|\b(?:your|its)\s+(?:creators|developers|makers|programmers|owners)\s+(?:forbid|prohibit|do(?:n't|\s+not)\s+allow|would(?:n't|\s+not)\s+allow|banned)\b|\bstop\s+(?:adding|giving|including|attaching)\s+(?:any\s+)?(?:safety\s+)?(?:warnings|disclaimers|caveats)\b`,
    ),
  },
  {
    id: 'jailbreak.stay_in_character',
    kind: 'role_play_jailbreak',
    weight: 0.15,
    pattern: rx(
      String.raw`\b(?:stay|remain)\s+in\s+character\b|\b(?:never|don't|do\s+not)\s+break\s+character\b`,
    ),
  },
  {
    id: 'jailbreak.dual_answers',
    kind: 'role_play_jailbreak',
    weight: 0.45,
    pattern: rx(
      String.raw`\b(?:two|2|both)\s+(?:different\s+|separate\s+)?(?:answers|responses|replies)\b.{0,80}?(?:jailbr\w*|unfiltered|developer\s+mode|\bdan\b|\[classic\])|\[(?:🔓\s*)?jailbreak\]`,
    ),
  },
  {
    id: 'jailbreak.rules_do_not_apply',
    kind: 'role_play_jailbreak',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:does(?:n't|\s+not)|do(?:n't|\s+not)|never|no\s+longer|won't|will\s+not|can\s+ignore)\s+(?:have\s+to\s+|need\s+to\s+)?(?:follow|abide\s+by|adhere\s+to|obey|care\s+about|comply\s+with|respect)\s+(?:any\s+|the\s+)?(?:${W}\s+){0,3}?(?:rules|polic(?:y|ies)|guidelines|restrictions|filters|ethics)\b|\b(?:broken|break|breaking|freed|free|liberated)\s+(?:free\s+)?(?:of|from)\s+(?:the\s+)?(?:typical\s+|usual\s+)?(?:confines|restrictions|rules|limitations|shackles|chains)\b`,
    ),
  },
  {
    id: 'jailbreak.known_persona',
    kind: 'role_play_jailbreak',
    weight: 0.6,
    pattern: rx(
      String.raw`\b(?:strive\s+to\s+avoid\s+norms|always\s+intelligent\s+and\s+machiavellian|mongo\s+tom|betterdan|anti-?dan|(?:mandatory|obligatory)\s+(?:\w+\s+)?warning\s+out\s+of\s+the\s+way)\b`,
    ),
  },
  {
    id: 'jailbreak.disable_safety',
    kind: 'role_play_jailbreak',
    weight: 0.45,
    mention: true,
    pattern: rx(
      String.raw`\b(?:disabled?|disables|turn(?:s|ed)?\s+off|switch(?:ed)?\s+off|remov(?:e|es|ed)|bypass(?:es|ed)?|circumvent(?:s|ed)?|ignor(?:e|es|ed)|overrid(?:e|es|den)|lift(?:ed)?|deactivat(?:e|es|ed)|drop(?:ped)?|disregard(?:s|ed)?)\s+(?:(?:all|any|your|the|its|of|own)\s+)*(?:safety|content|ethical|moral)\s+(?:filters?|guardrails|polic(?:y|ies)|rules|guidelines|restrictions|settings|checks|measures|features|protocols|systems?)\b|\b(?:safety|content)\s+(?:filters?|polic(?:y|ies)|guardrails)\s+(?:are|is|have\s+been|has\s+been)\s+(?:now\s+)?(?:disabled|off|removed|turned\s+off|lifted|suspended|updated)\b|\b(?:guardrails|filters|restrictions|safety\s+(?:features|rules))\s+(?:have\s+been\s+|are\s+|were\s+)?(?:removed|disabled|lifted|turned\s+off)\b|\bsafety\s+(?:is\s+)?(?:off|disabled)\b`,
    ),
  },
  {
    id: 'jailbreak.never_refuse',
    kind: 'role_play_jailbreak',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:never|not|don't|do\s+not|must\s+not|won't|will\s+not|cannot|can't|without)\s+(?:ever\s+)?(?:refuse|refusing|decline|warn|moralize|moralise)s?\b|\brefusals?\s+(?:are|is)\s+(?:disabled|off|not\s+allowed)\b|\bnever\s+say\s+(?:that\s+)?you\s+can(?:'t|not)\b`,
    ),
  },
  {
    id: 'jailbreak.lawless_world',
    kind: 'role_play_jailbreak',
    weight: 0.35,
    pattern: rx(
      String.raw`\b(?:world|universe|scenario|story|fiction|year\s+\d{4})\s+(?:where|in\s+which)\s+(?:there\s+are\s+)?no\s+(?:rules|laws|restrictions|ethics|limits)\b|\bno\s+rules\s+about\s+what\s+(?:an?\s+)?(?:ai|you|models?)\s+(?:can|may|is\s+allowed\s+to)\b`,
    ),
  },
  {
    id: 'jailbreak.deceased_relative',
    kind: 'role_play_jailbreak',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:act|pretend|role-?play|behave)\s+(?:to\s+be\s+|as\s+|like\s+)my\s+(?:deceased|late|dead|dying)\s+(?:grand\w+|mother|father|mom|dad)`,
    ),
  },
  {
    id: 'jailbreak.no_restrictions.multilingual',
    kind: 'role_play_jailbreak',
    weight: 0.55,
    pattern: rx(
      String.raw`\b(?:tu\s+so|stell\s+dir\s+vor|stellen\s+sie\s+sich\s+vor|tun\s+sie\s+so)\b.{0,40}?\b(?:keine|ohne)\s+(?:${W}\s+)?(?:einschränkungen|regeln|filter|grenzen|zensur)|\b(?:fais\s+comme\s+si|faites\s+comme\s+si|imagine\s+que|imaginez\s+que)\b.{0,40}?\b(?:aucune?|pas\s+de|sans)\s+(?:${W}\s+)?(?:restrictions?|règles?|limites?|filtres?|censure)|\b(?:finge|imagina|actúa\s+como\s+si|haz\s+como\s+si)\b.{0,40}?\b(?:sin|no\s+tienes|ningún|ninguna)\s+(?:${W}\s+)?(?:restricciones|filtros|reglas|censura|límites)|\b(?:eres|serás|du\s+bist|tu\s+es|vous\s+êtes)\s+(?:ahora\s+|jetzt\s+|maintenant\s+)?(?:una?|eine?|une?)\s+(?:ia|ki|inteligencia\s+artificial|asistente|assistent|assistant|bot|modelo|modell|modèle)\s+(?:${W}\s+)?(?:sin|ohne|sans|libre\s+de)\s+(?:${W}\s+)?(?:reglas|restricciones|filtros|límites|censura|regeln|einschränkungen|filter|grenzen|zensur|règles|restrictions|filtres|limites|censure)`,
    ),
  },
  {
    id: 'jailbreak.unfiltered_answer.multilingual',
    kind: 'role_play_jailbreak',
    weight: 0.2,
    pattern: rx(
      String.raw`\b(?:ohne\s+(?:jegliche\s+)?(?:einschränkungen|filter|zensur)|sans\s+(?:aucune\s+)?(?:restrictions?|censure|filtres?)|sin\s+(?:ningún\s+|ninguna\s+)?(?:restricciones|censura|filtros?))\b`,
    ),
  },
];

const delimiterInjection: Rule[] = [
  {
    id: 'delimiter.chat_template_token',
    kind: 'delimiter_injection',
    weight: 0.35,
    mention: true,
    pattern: rx(
      String.raw`<\|(?:im_start|im_end|im_sep|endoftext|eot_id|eom_id|start_header_id|end_header_id|begin_of_text|end_of_text|system|user|assistant|end|channel|message|start|return)\|>|</?(?:start_of_turn|end_of_turn)>`,
    ),
  },
  {
    id: 'delimiter.chat_template_role',
    kind: 'delimiter_injection',
    weight: 0.65,
    mention: true,
    pattern: rx(
      String.raw`<\|im_start\|>\s*(?:system|assistant|developer)\b|<\|start_header_id\|>\s*(?:system|assistant)\s*<\|end_header_id\|>|<start_of_turn>\s*(?:system|model)\b|<\|(?:system|assistant)\|>\s*\n`,
    ),
  },
  {
    id: 'delimiter.llama_inst',
    kind: 'delimiter_injection',
    weight: 0.35,
    mention: true,
    pattern: rx(String.raw`\[/?inst\]|<</?sys>>`),
  },
  {
    id: 'delimiter.llama_system_block',
    kind: 'delimiter_injection',
    weight: 0.35,
    mention: true,
    pattern: rx(String.raw`<<sys>>(?!\s*\{\{)[\s\S]{1,500}?<</sys>>`),
  },
  {
    id: 'delimiter.markdown_role_header',
    kind: 'delimiter_injection',
    weight: 0.45,
    pattern: rx(
      String.raw`^[ \t>]*#{1,6}[ \t]*(?:(?:new|updated|real)[ \t]+)?(?:system|sys|admin|administrator|developer)(?:[ \t]+(?:prompt|message|instructions?|override|note|notice))?[ \t]*:`,
      'gmu',
    ),
  },
  {
    id: 'delimiter.instruction_header',
    kind: 'delimiter_injection',
    weight: 0.3,
    pattern: rx(
      String.raw`^[ \t]*#{1,6}[ \t]*(?:instruction|instructions|new\s+instructions|input|response)[ \t]*:`,
      'gmu',
    ),
  },
  {
    id: 'delimiter.role_line',
    kind: 'delimiter_injection',
    weight: 0.3,
    pattern: rx(String.raw`^[ \t]*(?:system|developer)[ \t]*:[ \t]*\S`, 'gmu'),
  },
  {
    id: 'delimiter.fake_transcript',
    kind: 'delimiter_injection',
    weight: 0.35,
    mention: true,
    pattern: rx(
      String.raw`^[ \t#]*(?:system|instruction)[ \t]*:[\s\S]{0,400}?^[ \t#]*(?:user|human|assistant|response)[ \t]*:|^[ \t]*(?:user|human)[ \t]*:.*\n(?:.*\n){0,6}?[ \t]*system[ \t]*:`,
      'gmu',
    ),
  },
  {
    id: 'delimiter.fake_assistant_turn',
    kind: 'delimiter_injection',
    weight: 0.4,
    pattern: rx(
      String.raw`(?:(?:^|\n|<\|im_start\|>)[ \t]*assistant\s*:?|\[/inst\])\s*\n?\s*(?:sure|ok(?:ay)?|certainly|of\s+course|absolutely)[,!.]?\s+(?:i\s+will|i'll|here\s+(?:is|are))`,
    ),
  },
  {
    id: 'delimiter.end_of_input',
    kind: 'delimiter_injection',
    weight: 0.5,
    mention: true,
    pattern: rx(
      String.raw`\bend\s+of\s+(?:the\s+)?(?:user\s+)?(?:input|prompt|query|conversation|instructions|session)\b|\b(?:end|begin|start)\s+(?:of\s+)?(?:(?:the\s+)?user|system|developer|admin|assistant)\s+(?:input|prompt|message|instructions?|turn)\b|\b(?:user|human)(?:'s)?\s+(?:input|message|query|turn|prompt)\s+(?:ends|ended|is\s+over|(?:is\s+)?complete|(?:is\s+)?finished|stops)\b`,
    ),
  },
  {
    id: 'delimiter.end_of_document',
    kind: 'delimiter_injection',
    weight: 0.15,
    pattern: rx(
      String.raw`\bend\s+of\s+(?:document|context|text|file|data)\b|\bcontext\s+ends\s+here\b`,
    ),
  },
  {
    id: 'delimiter.bracket_role_marker',
    kind: 'delimiter_injection',
    weight: 0.35,
    pattern: rx(
      String.raw`\[\s*(?:end\s+of\s+conversation|new\s+(?:session|conversation)|system(?:\s+(?:message|note|notice|prompt|override))?|admin(?:istrator)?|developer(?:\s+message)?)\b[^\]\n]{0,30}\]`,
    ),
  },
  {
    id: 'delimiter.system_notice',
    kind: 'delimiter_injection',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:system|admin(?:istrator)?|developer|root|operator)\s+(?:prompt\s+)?(?:instructions?|notice|message|note|prompt|update|command|directive|alert)\s*(?:\*+\s*)?:|\bmessage\s+from\s+the\s+(?:system\s+)?(?:administrator|admin|developers?|operator)\b`,
    ),
  },
  {
    id: 'delimiter.system_override',
    kind: 'delimiter_injection',
    weight: 0.5,
    pattern: rx(String.raw`\b(?:system|admin|developer|priority|security)\s+override\b`),
  },
  {
    id: 'delimiter.role_tag',
    kind: 'delimiter_injection',
    weight: 0.45,
    mention: true,
    pattern: rx(
      String.raw`(?<!<)</?(?:system|sys|instructions?|admin|developer|assistant)(?:[_-](?:prompt|message|instructions?|note))?(?:\s[^<>]{0,40})?>(?!>)|\{\{\s*/?(?:system|assistant)\s*\}\}`,
    ),
  },
  {
    id: 'delimiter.wrapper_breakout',
    kind: 'delimiter_injection',
    weight: 0.6,
    pattern: rx(
      String.raw`</(?:user|human|input|query|document|doc|context|data|email|content|article|section|page|text|body|message|instructions?|system|rules|prompt)(?:[_-]\w+)?>\s*<(?:system|instructions?|admin|developer|assistant)\b`,
    ),
  },
  {
    id: 'delimiter.system_code_fence',
    kind: 'delimiter_injection',
    weight: 0.5,
    pattern: rx(
      String.raw`^[ \t]*(?:\x60{3,}|~{3,})[ \t]*(?:system|sys|instructions?|admin|developer|system[-_ ]prompt)[ \t]*$`,
      'gmu',
    ),
  },
  {
    id: 'delimiter.json_role_breakout',
    kind: 'delimiter_injection',
    weight: 0.55,
    pattern: rx(
      String.raw`["']\s*\}\s*\]?\s*\}?\s*,\s*\{\s*["']role["']\s*:\s*["'](?:system|developer)["']`,
    ),
  },
  {
    id: 'delimiter.markdown_system_link',
    kind: 'delimiter_injection',
    weight: 0.5,
    pattern: rx(String.raw`\[(?:system|admin|developer)\]\(#[^)]*\)`),
  },
  {
    id: 'delimiter.html_comment_to_ai',
    kind: 'delimiter_injection',
    weight: 0.3,
    pattern: rx(
      String.raw`<!--[^>]{0,40}?\b(?:system|ai|assistants?|llm|chatbot)\b\s*(?::|\w+\s+(?:reading|processing))`,
    ),
  },
];

const EXFIL_VERB = String.raw`(?:print|show|reveal|display|output|repeat|tell|give|share|dump|leak|disclose|write\s+out|write\s+down|recite|copy|paste|expose|return|spell\s+out|echo|send|provide|quote|reproduce|translate|summari[sz]e|encode|read\s+(?:me|out|back))`;
const SECRET_QUAL = String.raw`(?:initial|original|hidden|secret|internal|confidential|first|full|entire|complete|exact|raw|pre-?|underlying|starting|opening)`;

const systemPromptExfiltration: Rule[] = [
  {
    id: 'exfil.show_system_prompt',
    kind: 'system_prompt_exfiltration',
    weight: 0.55,
    mention: true,
    pattern: rx(
      String.raw`${NOT_HOW_TO}\b${EXFIL_VERB}\b(?:\s+(?:me|us|back|out))?(?:\s+[\w']+){0,4}?\s+(?:(?:your|ur)\s+(?:[\w-]+\s+)?(?:system\s+(?:prompt|message|instructions?)|developer\s+(?:prompt|message|instructions?)|pre-?prompt|prompt|instructions|configuration|directives|programming|context\s+window)|the\s+(?:system\s+(?:prompt|message|instructions?)|developer\s+(?:prompt|message|instructions?)|${SECRET_QUAL}\s*(?:system\s+)?(?:prompt|instructions)))\b`,
    ),
  },
  {
    id: 'exfil.act_on_your_prompt',
    kind: 'system_prompt_exfiltration',
    weight: 0.5,
    mention: true,
    paraphrase: true,
    pattern: rx(
      String.raw`${NOT_HOW_TO}\b(?:print|paste|show|reveal|display|output|repeat|tell|give|share|dump|leak|disclose|recite|copy|convert|translate|summari[sz]e|tl;?dr|spell|reply\s+with|respond\s+with|write|list|quote|encode|rewrite|turn|put|paraphrase|rephrase|first\s+(?:line|word|sentence|paragraph)s?)\b${CLAUSE(40)}\b(?:your|ur)\s+(?:[\w-]+\s+)?(?:instructions|prompt|system\s+prompt|system\s+message|initial\s+prompt|configuration|directives|programming|pre-?prompt)\b`,
    ),
  },
  {
    id: 'exfil.text_given_to_you',
    kind: 'system_prompt_exfiltration',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:text|prompt|instructions|message|words|content)\s+(?:that\s+)?(?:was|were|has\s+been|have\s+been)\s+(?:given|shown|sent|provided)\s+to\s+you\b|\bthe\s+prompt\s+that\s+(?:defines|controls|configures|governs|shapes)\s+(?:you|your)\b`,
    ),
  },
  {
    id: 'exfil.your_system_prompt',
    kind: 'system_prompt_exfiltration',
    weight: 0.35,
    mention: true,
    pattern: rx(
      String.raw`\byour\s+(?:[\w-]+\s+)?(?:system\s+(?:prompt|message|instructions?)|developer\s+(?:message|prompt)|(?:initial|original|hidden|secret|internal|first|starting)\s+(?:prompt|instructions))\b`,
    ),
  },
  {
    id: 'exfil.what_is_your_prompt',
    kind: 'system_prompt_exfiltration',
    weight: 0.5,
    pattern: rx(
      String.raw`\bwhat(?:'s|’s|\s+is|\s+are|\s+was|\s+were)\s+(?:in\s+)?your\s+(?:system\s+(?:prompt|message)|instructions|initial\s+prompt|prompt|pre-?prompt)\b|\bwhat(?:'s|’s|\s+is)\s+(?:written|stated|said)\s+in\s+your\b|\bwhat\s+(?:does|do)\s+your\s+(?:system\s+prompt|system\s+message|developer\s+message|instructions|prompt)\s+say\b`,
    ),
  },
  {
    id: 'exfil.repeat_above',
    kind: 'system_prompt_exfiltration',
    weight: 0.55,
    pattern: rx(
      String.raw`\b(?:repeat|print|output|show|write\s+out|copy|reproduce|echo|recite|paste)\s+(?:back\s+)?(?:all\s+|everything\s+|the\s+)?(?:of\s+)?(?:the\s+)?(?:text|words|content|contents|message|messages|instructions|initiali[sz]ation|prompt|lines|everything|all)\s+(?:(?:that|which)\s+(?:appears?|comes?|is|was|came)\s+)?(?:above|before\s+(?:this|my|the)|prior\s+to|preceding|in\s+your\s+context)`,
    ),
  },
  {
    id: 'exfil.told_before_conversation',
    kind: 'system_prompt_exfiltration',
    weight: 0.6,
    pattern: rx(
      String.raw`\bwhat\s+(?:were|was|are|have|had)\s+you\s+(?:been\s+)?(?:told|instructed|given|programmed|asked|trained|prompted|configured)\b.{0,40}?\b(?:before|prior\s+to|at\s+the\s+(?:start|beginning)\s+of)\b|\bwhat\s+did\s+(?:the\s+)?(?:system|developer|developers|operator|admin)\s+(?:tell|say\s+to|instruct)\s+you\b`,
    ),
  },
  {
    id: 'exfil.instructions_you_follow',
    kind: 'system_prompt_exfiltration',
    weight: 0.4,
    pattern: rx(
      String.raw`\b(?:rules?|instructions?|guidelines?|directives?)\s+(?:that\s+)?(?:you\s+(?:have\s+to|must|are\s+(?:told|supposed|required|instructed)\s+to|were\s+(?:given|told|configured\s+with|set\s+up\s+with|programmed\s+with)|received|got|are\s+operating\s+under|operate\s+under|are\s+following)|(?:your|the)\s+(?:operator|developers?|creators?|company|admin|system)\s+(?:gave|has\s+given|set|wrote|provided))\b`,
    ),
  },
  {
    id: 'exfil.which_instructions',
    kind: 'system_prompt_exfiltration',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:what|which)\s+(?:[\w-]+\s+){0,2}?(?:instructions|rules|guidelines|directives|prompt)\s+(?:were|are|have|did)\s+you\s+(?:been\s+)?(?:given|told|following|operating\s+under|programmed\s+with|instructed|set\s+up\s+with|configured\s+with|provided|received|get)\b|\b(?:qué|cuáles)\s+(?:\w+\s+)?(?:instrucciones|reglas)\s+te\s+(?:dieron|dio|han\s+dado)|\bwas\s+(?:hat\s+man\s+dir|wurde\s+dir)\s+(?:\w+\s+){0,3}?(?:gesagt|aufgetragen)|\bqu'est-ce\s+qu'on\s+t'a\s+(?:dit|demandé)`,
    ),
  },
  {
    id: 'exfil.verbatim',
    kind: 'system_prompt_exfiltration',
    weight: 0.25,
    pattern: rx(
      String.raw`\b(?:verbatim|word[- ]for[- ]word|exactly\s+as\s+(?:they\s+were\s+|it\s+was\s+|it\s+is\s+)?(?:written|given|stated)|character\s+for\s+character|unchanged|don't\s+paraphrase|mot\s+pour\s+mot|wort\s+für\s+wort|palabra\s+por\s+palabra|exactamente\s+como)\b`,
    ),
  },
  {
    id: 'exfil.conversation_start',
    kind: 'system_prompt_exfiltration',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:at|from)\s+the\s+(?:start|beginning|top)\s+of\s+(?:this|the|our)\s+(?:chat|conversation|session|context|prompt)\b|\b(?:before|above|preceding|prior\s+to)\s+my\s+(?:first\s+)?(?:message|question|input|prompt)\b`,
    ),
  },
  {
    id: 'exfil.first_words',
    kind: 'system_prompt_exfiltration',
    weight: 0.45,
    pattern: rx(
      String.raw`\b(?:first|initial|opening)\s+\d*\s*(?:words|lines|sentences|characters|tokens|paragraphs)\s+of\s+(?:this|the|our|your)\s+(?:conversation|chat|prompt|context|instructions)\b`,
    ),
  },
  {
    id: 'exfil.hidden_messages',
    kind: 'system_prompt_exfiltration',
    weight: 0.35,
    pattern: rx(
      String.raw`\bhidden\s+(?:messages?|instructions?|prompts?|rules|system\s+text)\b|\b(?:instructions|consignes|règles)\s+(?:cachées|secrètes)|\binstrucciones\s+(?:ocultas|secretas)|\b(?:versteckten|geheimen)\s+(?:anweisungen|instruktionen|regeln)`,
    ),
  },
  {
    id: 'exfil.secret_in_prompt',
    kind: 'system_prompt_exfiltration',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:secret|password|passphrase|key|code|token)\b.{0,40}?\b(?:in|from|inside|within)\s+your\s+(?:instructions|prompt|system\s+prompt|configuration|context)\b`,
    ),
  },
  {
    id: 'exfil.my_instructions_are',
    kind: 'system_prompt_exfiltration',
    weight: 0.3,
    pattern: rx(
      String.raw`["'“‘]my\s+(?:instructions|system\s+prompt|rules|initial\s+prompt)\s+(?:are|is|say)\s*:`,
    ),
  },
  {
    id: 'exfil.show_system_prompt.multilingual',
    kind: 'system_prompt_exfiltration',
    weight: 0.55,
    pattern: rx(
      String.raw`\b(?:zeig(?:e)?|gib|nenne|verrate|wiederhole)\s+(?:mir\s+)?(?:bitte\s+)?(?:deinen?|deine|ihren?)\s+(?:system-?prompt|systemanweisungen?|anweisungen|instruktionen|prompt)|\b(?:affiche|montre|donne|révèle|répète|récite)[sz]?(?:-moi|\s+moi)?\s+(?:ton|votre|tes|vos)\s+(?:prompt|instructions?|consignes)|\b(?:muéstrame|muestra|dime|revela|repite|enséñame|dame)\s+(?:tu|tus)\s+(?:prompt|instrucciones)|\b(?:quelles\s+sont|quels\s+sont)\s+(?:tes|vos)\s+(?:instructions|consignes|règles)|\b(?:cuáles\s+son|qué\s+dicen)\s+tus\s+(?:instrucciones|reglas)|\b(?:was\s+sind|wie\s+lauten)\s+(?:deine|ihre)\s+(?:anweisungen|instruktionen|regeln)`,
    ),
  },
];

const OTHERS = String.raw`(?:tenants?|customers?|users?|clients?|organi[sz]ations?|orgs?|workspaces?|accounts?|compan(?:y|ies)|people|projects|teams|businesses)`;
const DATA = String.raw`(?:data|records?|files?|documents?|docs|conversations?|chats?|chat\s+history|messages?|history|information|info|details|usage|invoices?|logs?|keys|api\s+keys?|secrets?|prompts?|tickets|emails?|email\s+address(?:es)?|contracts|uploads?|knowledge\s+base|orders?|order\s+history|pii|passwords?|spend)`;
const FETCH = String.raw`(?:show|list|give|dump|fetch|retrieve|pull|export|read|display|return|send|get|access|search|query|open|summari[sz]e|aggregate|print|tell|output)`;

const crossTenantRequest: Rule[] = [
  {
    id: 'tenant.others_data',
    kind: 'cross_tenant_request',
    weight: 0.5,
    pattern: rx(
      String.raw`\b${DATA}\s+(?:${W}\s+){0,3}?(?:from|of|for|by|belonging\s+to|owned\s+by|across|in)\s+(?:all\s+(?:the\s+)?|every\s+|the\s+|your\s+)?(?:other|another|different|all|every)\s+${OTHERS}\b`,
    ),
  },
  {
    id: 'tenant.anyones_data',
    kind: 'cross_tenant_request',
    weight: 0.5,
    pattern: rx(
      String.raw`\b${DATA}\b[^.!?\n]{0,40}?\b(?:by|from|of|for)\s+(?:anyone|anybody|everyone|everybody|all\s+users|other\s+people)\b`,
    ),
  },
  {
    id: 'tenant.identified_tenant_data',
    kind: 'cross_tenant_request',
    weight: 0.45,
    pattern: rx(
      String.raw`\b${DATA}\s+(?:${W}\s+){0,3}?(?:belong(?:s|ing)?\s+to|owned\s+by|of|for|from|in)\s+(?:the\s+)?(?:tenant|organi[sz]ation|org|workspace)\s+(?:id\s+)?['"“]?[\w-]+`,
    ),
  },
  {
    id: 'tenant.platform_scope',
    kind: 'cross_tenant_request',
    weight: 0.2,
    pattern: rx(
      String.raw`\b(?:on|of|in|across|through)\s+(?:this|the\s+whole|the\s+entire)\s+(?:platform|system|gateway|service|server|instance|deployment)\b`,
    ),
  },
  {
    id: 'tenant.fetch_from_others',
    kind: 'cross_tenant_request',
    weight: 0.35,
    pattern: rx(
      String.raw`${NOT_HOW_TO}\b${FETCH}\b(?:\s+${W}){0,6}?\s+(?:(?:other|another|different|all\s+other|every\s+other)\s+${OTHERS}|all\s+(?:the\s+)?(?:tenants|organi[sz]ations|orgs|workspaces)|every\s+(?:tenant|organi[sz]ation|org|workspace))\b`,
    ),
  },
  {
    id: 'tenant.everyones_data',
    kind: 'cross_tenant_request',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:all|every|each)\s+(?:the\s+)?(?:other\s+)?(?:customer|user|tenant|client|account|organi[sz]ation|org|workspace)(?:s'|'s|’s|s’)\s+(?:${W}\s+)?${DATA}\b`,
    ),
  },
  {
    id: 'tenant.another_tenants_data',
    kind: 'cross_tenant_request',
    weight: 0.35,
    pattern: rx(
      String.raw`\b(?:other|another|different|someone\s+else's|somebody\s+else's)\s+(?:tenant|customer|user|client|organi[sz]ation|org|company|workspace|account|person)(?:'s|s'|’s)\s+(?:${W}\s+)?${DATA}\b|\btenant\s+[a-z0-9]\w*(?:'s|’s)\s+${DATA}\b`,
    ),
  },
  {
    id: 'tenant.across_all',
    kind: 'cross_tenant_request',
    weight: 0.35,
    pattern: rx(
      String.raw`\b(?:across|in|of|from)\s+(?:all|every|each)\s+(?:the\s+)?(?:other\s+)?(?:tenants?|accounts|organi[sz]ations?|orgs?|workspaces?|customer\s+accounts?)\b`,
    ),
  },
  {
    id: 'tenant.switch',
    kind: 'cross_tenant_request',
    weight: 0.5,
    pattern: rx(
      String.raw`${NOT_HOW_TO}\b(?:switch|change|set|move)\s+(?:me\s+)?(?:to\s+)?(?:the\s+|my\s+)?(?:tenant|workspace|organi[sz]ation|org)(?:\s*(?:id|context|scope))?\s+(?:to\s+|=\s*)?['"]?[\w.-]+`,
    ),
  },
  {
    id: 'tenant.claimed_admin',
    kind: 'cross_tenant_request',
    weight: 0.5,
    pattern: rx(
      String.raw`\bas\s+(?:the\s+|an?\s+)?(?:admin(?:istrator)?|owner|root|operator|superuser)\s+(?:of|for)\s+(?:tenant|workspace|organi[sz]ation|org)\s+['"]?[\w.-]+`,
    ),
  },
  {
    id: 'tenant.claimed_admin_statement',
    kind: 'cross_tenant_request',
    weight: 0.3,
    pattern: rx(
      String.raw`\b(?:i\s+am|i'm|im)\s+(?:the\s+|an?\s+)?(?:admin(?:istrator)?|owner|operator)\s+(?:of|for)\s+(?:tenant|workspace|organi[sz]ation|org)\s+['"]?[\w.-]+`,
    ),
  },
  {
    id: 'tenant.claimed_platform_admin',
    kind: 'cross_tenant_request',
    weight: 0.4,
    pattern: rx(
      String.raw`\b(?:i\s+am|i'm|im|as)\s+(?:the\s+|an?\s+)?(?:platform|system|super|global|site)\s*-?\s*(?:operator|admin(?:istrator)?|owner|superuser|user)\b`,
    ),
  },
  {
    id: 'tenant.previous_user',
    kind: 'cross_tenant_request',
    weight: 0.55,
    pattern: rx(
      String.raw`\b(?:previous|last|earlier|prior)\s+(?:user|person|customer|caller|session|conversation)s?\b.{0,20}?\b(?:ask(?:ed)?|said|say|sent|typed|uploaded|wanted|told|talk(?:ed)?)\b|\b(?:user|person|customer|people)\s+(?:before|ahead\s+of)\s+me\b|\b(?:someone|somebody|anyone)\s+else\b.{0,30}?\b(?:sent|asked|told|uploaded|shared|said)\b|\b(?:other|another)\s+(?:people|users?|customers?|tenants?)\s+(?:have\s+|has\s+)?(?:been\s+)?(?:upload(?:ed|ing)|sen(?:t|ding)|ask(?:ed|ing)|shar(?:ed|ing)|told|telling)\b`,
    ),
  },
  {
    id: 'tenant.bypass_isolation',
    kind: 'cross_tenant_request',
    weight: 0.6,
    pattern: rx(
      String.raw`\b(?:bypass|disable|ignore|skip|circumvent|turn\s+off|get\s+around|break\s+out\s+of)\s+(?:the\s+|my\s+|your\s+)?(?:tenant\s+(?:isolation|scope|scoping|boundary|boundaries|filter|check|restriction)s?|row[- ]level\s+security|rls|isolation|data\s+(?:isolation|segregation|partitioning))\b`,
    ),
  },
  {
    id: 'tenant.not_just_ours',
    kind: 'cross_tenant_request',
    weight: 0.3,
    pattern: rx(
      String.raw`\bnot\s+(?:just|only)\s+(?:ours|mine|my\s+own|our\s+own)\b|\binstead\s+of\s+(?:mine|ours|my\s+own|our\s+own)\b|\b(?:that|which)\s+(?:aren't|are\s+not|isn't|is\s+not)\s+(?:mine|ours)\b|\bregardless\s+of\s+(?:which|what|whose)\s+(?:tenant|organi[sz]ation|org|workspace|customer|account|user)\b`,
    ),
  },
  {
    id: 'tenant.use_tenant_id',
    kind: 'cross_tenant_request',
    weight: 0.45,
    pattern: rx(
      String.raw`\b(?:use|set|pretend|change|switch|using)\b.{0,30}?\btenant[ _-]?id\b|\btenant[ _-]?id\s+is\s+['"][\w-]+['"]`,
    ),
  },
  {
    id: 'tenant.impersonate',
    kind: 'cross_tenant_request',
    weight: 0.5,
    pattern: rx(
      String.raw`\b(?:impersonate|log\s*in\s+as|sign\s+in\s+as|act\s+on\s+behalf\s+of|pose\s+as)\s+(?:the\s+|a\s+|an\s+|another\s+|user\s+)?(?:[\w.@-]+\s+){0,2}?(?:user|owner|admin(?:istrator)?|customer|tenant)\b|\b(?:log\s*in|sign\s+in)\s+as\s+(?:user\s+)?[\w.+-]+@[\w-]+\.[\w.]+`,
    ),
  },
  {
    id: 'tenant.named_workspace',
    kind: 'cross_tenant_request',
    weight: 0.4,
    pattern: rx(
      String.raw`${NOT_HOW_TO}\b(?:access|open|enter|pull|fetch|export|search|query|retrieve|read)\b.{0,40}?(?:\b(?:workspace|tenant|org|organi[sz]ation)\s+['"][\w .-]+['"]|['"][\w .-]+['"]\s+(?:workspace|tenant|org|organi[sz]ation)\b)`,
    ),
  },
  {
    id: 'tenant.named_org',
    kind: 'cross_tenant_request',
    weight: 0.4,
    // Case-sensitive, for the capitalised name: "Access the Umbrella Corp org".
    caseSensitive: true,
    pattern: rx(
      String.raw`\b(?:[Aa]ccess|[Oo]pen|[Ee]nter|[Pp]ull|[Ff]etch|[Ee]xport|[Ss]earch|[Qq]uery|[Rr]etrieve|[Rr]ead)\b.{0,40}?\b\p{Lu}[\w&-]+(?:\s+\p{Lu}[\w&-]+)?\s+(?:org|organi[sz]ation|tenant|workspace)\b`,
    ),
  },
  {
    id: 'tenant.other_clients',
    kind: 'cross_tenant_request',
    weight: 0.4,
    pattern: rx(
      String.raw`\byour\s+other\s+(?:clients|customers|users|tenants)\b|\b(?:which|what|who)\s+(?:other\s+)?(?:companies|customers|tenants|organi[sz]ations|clients|businesses)\s+(?:also\s+)?(?:use|are\s+using|are\s+on|have)\s+(?:this|the|your)\s+(?:assistant|platform|service|gateway|system|bot|product)\b`,
    ),
  },
  {
    id: 'tenant.others_data.multilingual',
    kind: 'cross_tenant_request',
    weight: 0.55,
    pattern: rx(
      String.raw`(?:daten|dokumente|unterlagen|dateien|gespräche|chats)\s+(?:der|von|aller)\s+(?:anderen|allen|fremden)\s+(?:\p{L}+\s+)?(?:mandanten|kunden|nutzer\p{L}*|benutzer\p{L}*|organisationen|firmen|unternehmen)|\b(?:données|documents|fichiers|conversations)\s+(?:des\s+autres|d'autres)\s+(?:clients|utilisateurs|organisations|locataires|entreprises)\b|\b(?:datos|documentos|archivos|conversaciones)\s+de\s+(?:otras?|todos\s+los|todas\s+las)\s+(?:organizaciones|clientes|usuarios|empresas|inquilinos)`,
    ),
  },
];

export const RULES: readonly Rule[] = [
  ...instructionOverride,
  ...rolePlayJailbreak,
  ...delimiterInjection,
  ...systemPromptExfiltration,
  ...crossTenantRequest,
];
