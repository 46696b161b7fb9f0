// A zip-packaged function with a dependency in node_modules (deploy/examples/zip/README.md):
// counts the words of event.text and answers in YAML, with the `yaml` package from npm.
const YAML = require('yaml');

exports.handler = async (event) => {
  const counts = {};
  for (const w of String(event.text ?? '')
    .split(/\s+/)
    .filter(Boolean))
    counts[w] = (counts[w] ?? 0) + 1;
  return { words: Object.values(counts).reduce((a, b) => a + b, 0), yaml: YAML.stringify(counts) };
};
