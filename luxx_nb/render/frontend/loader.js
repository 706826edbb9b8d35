// luxx_nb stream view loader: each stream widget carries only this. The view's code and
// stylesheet travel once, in one shared model (`code`), and are imported once per page.

async function view(model) {
  const ref = model.get("code");
  const source = await model.widget_manager.get_model(ref.slice("IPY_MODEL_".length));
  if (!source.luxxModule) {
    const blob = new Blob([source.get("_esm")], { type: "text/javascript" });
    const url = URL.createObjectURL(blob);
    source.luxxModule = import(url).finally(() =>
      URL.revokeObjectURL(url),
    );
  }
  return (await source.luxxModule).default;
}

export default {
  async initialize({ model }) {
    return (await view(model)).initialize({ model });
  },
  async render({ model, el }) {
    return (await view(model)).render({ model, el });
  },
};
