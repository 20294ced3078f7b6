/**
 * One message per violation, written once for both enforcement points: a template of literal
 * text and named slots. The TypeScript check fills the slots with values (`text`); the admission
 * policy fills them with CEL string expressions and gets one CEL string expression back (`cel`),
 * so CrossGuard and the API server say the same words.
 */

/** A named hole in a message. */
export interface Slot<S extends string> {
  readonly slot: S;
}

export function slot<S extends string>(name: S): Slot<S> {
  return { slot: name };
}

type Piece<S extends string> = string | Slot<S>;

/** A CEL single-quoted string literal of `text`. */
export function celString(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export class Message<S extends string> {
  constructor(private readonly pieces: readonly Piece<S>[]) {}

  /** The message with each slot replaced by its value. */
  text(values: Readonly<Record<S, string | number>>): string {
    return this.pieces.map((p) => (typeof p === "string" ? p : String(values[p.slot]))).join("");
  }

  /** A CEL string expression: the literal text quoted, each slot replaced by its CEL (a string). */
  cel(expressions: Readonly<Record<S, string>>): string {
    return this.pieces
      .filter((p) => p !== "")
      .map((p) => {
        if (typeof p === "string") return celString(p);
        const expression = expressions[p.slot];
        // A bare selector or literal needs no parentheses; anything else keeps its precedence.
        return /^([A-Za-z_][A-Za-z0-9_.]*|'([^'\\]|\\.)*')$/.test(expression)
          ? expression
          : `(${expression})`;
      })
      .join(" + ");
  }
}

/**
 * A template literal as a Message: interpolated strings are literal text, `slot(...)`s are slots.
 *   message`${slot("field")} is true; remove it`
 */
export function message<S extends string = never>(
  strings: TemplateStringsArray,
  ...parts: readonly Piece<S>[]
): Message<S> {
  const pieces: Piece<S>[] = [];
  strings.forEach((text, i) => {
    const last = pieces[pieces.length - 1];
    const part = i < parts.length ? parts[i] : "";
    if (typeof last === "string") pieces[pieces.length - 1] = last + text;
    else pieces.push(text);
    if (typeof part === "string") pieces[pieces.length - 1] += part;
    else pieces.push(part);
  });
  return new Message(pieces);
}
