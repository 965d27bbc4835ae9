#!/usr/bin/env node
// Compile one Solidity contract with solc-js and write its aea build JSON (abi, bytecode, deployedBytecode).
//
//   node scripts/compile_contract.js SOLC_MODULE_DIR SOURCE.sol CONTRACT_NAME OUTPUT.json
//
// The source is keyed by its file name only and the settings are fixed, so the output (including the
// metadata hash inside the bytecode) is the same on every machine: tests/test_model_registry_build.py checks it.
"use strict";
const fs = require("fs");
const path = require("path");

function main() {
  const [solcDir, sourcePath, contractName, outputPath] = process.argv.slice(2);
  if (!outputPath) {
    console.error("usage: compile_contract.js SOLC_MODULE_DIR SOURCE.sol CONTRACT_NAME OUTPUT.json");
    process.exit(2);
  }
  const solc = require(path.resolve(solcDir));
  const sourceName = path.basename(sourcePath);
  const input = {
    language: "Solidity",
    sources: { [sourceName]: { content: fs.readFileSync(sourcePath, "utf8") } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const message of output.errors || []) console.error(message.formattedMessage);
  if (errors.length > 0) process.exit(1);
  const compiled = output.contracts[sourceName][contractName];
  if (!compiled) {
    console.error(`no contract ${contractName} in ${sourcePath}`);
    process.exit(1);
  }
  const build = {
    contractName,
    sourceName,
    compiler: `solc-js ${solc.version()}`,
    abi: compiled.abi,
    bytecode: "0x" + compiled.evm.bytecode.object,
    deployedBytecode: "0x" + compiled.evm.deployedBytecode.object,
  };
  fs.mkdirSync(path.dirname(outputPath), { recursive: true });
  fs.writeFileSync(outputPath, JSON.stringify(build, null, 2) + "\n");
}

main();
