// Page header: the name and what the app is for, in one line.
export function Header() {
  return (
    <header className="header">
      <h1>sub4</h1>
      <p className="tagline">
        Fine-tuning studio for sub-4-bit quantized Llama-family models, on your GPU through WebGPU, in this tab — nothing is uploaded.
      </p>
    </header>
  );
}
