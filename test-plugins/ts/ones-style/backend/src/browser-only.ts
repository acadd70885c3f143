// Front-end code kept beside the backend in some plugins; nothing on the
// backend's import graph reaches it.
export function mount(): void {
  const el = window.document.getElementById('app')
  if (el) el.innerText = 'hello'
}
