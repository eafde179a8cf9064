// English function words: they match everywhere, so they would make any sentence look relevant.
const STOPWORDS = new Set(
  `a about above after again against all am an and any are as at be because been before being below
  between both but by can could did do does doing down during each few for from further had has have
  having he her here hers herself him himself his how i if in into is it its itself just let me more
  most my myself no nor not of off on once only or other our ours ourselves out over own please same
  shall she should so some such tell than that the their theirs them themselves then there these they
  this those through to too under until up very was we were what when where which while who whom why
  will with would you your yours yourself yourselves`.split(/\s+/),
);

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}
