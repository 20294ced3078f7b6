import { describe, expect, it } from "vitest";
import { celString, message, slot } from "../../rules/message";

describe("a message template serves both enforcement points", () => {
  const template = message`${slot("at")}image "${slot("image")}" is the image's ${"fix"}`;

  it("fills the slots with values for TypeScript", () => {
    expect(template.text({ at: "spec.containers[0].", image: "web:1" })).toBe(
      `spec.containers[0].image "web:1" is the image's fix`,
    );
  });

  it("builds one CEL string expression, literals quoted and escaped, slots in parentheses unless bare", () => {
    expect(template.cel({ at: "variables.podPath + '.'", image: "c.image" })).toBe(
      `(variables.podPath + '.') + 'image "' + c.image + '" is the image\\'s fix'`,
    );
  });

  it("quotes a CEL string literal, backslashes included", () => {
    expect(celString(`a\\b'c`)).toBe(`'a\\\\b\\'c'`);
  });
});
