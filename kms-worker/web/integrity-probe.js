// Imported by kms-frame.js under an integrity value in kms.html's import map
// that can never match: the import must fail. If it runs, the browser does
// not check the integrity of module imports, and the frame refuses to start.
export const ran = true;
