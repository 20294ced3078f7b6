import pulumi from "@pulumi/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "policy/dist/", "policy/node_modules/"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { project: "./tsconfig.test.json", tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@pulumi": pulumi },
    rules: {
      // Strings built from Outputs must use pulumi.interpolate, never a template literal.
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // The policy pack is its own package (policy/package.json) with its own tsconfig.
    files: ["policy/**/*.ts"],
    languageOptions: {
      parserOptions: { project: "./policy/tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    // The rule definitions and the allowlist are shared with the program (index.ts), which runs
    // without the policy pack's packages.
    files: ["policy/rules/**/*.ts", "policy/allowlist.ts", "index.ts", "components/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@pulumi/policy", "@pulumi/policy/*"],
              message: "the program imports these files: keep @pulumi/policy in policy/policies.ts",
            },
          ],
        },
      ],
    },
  },
  {
    // Rules read resource inputs and admission objects, which are untyped JSON.
    files: ["policy/rules/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Tests read loosely typed mock inputs.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
