/*
 * Shared by the edit dialogs of @gdpr-whatsapp/node-red (nodes/*.html). Node-RED loads this file, served from the
 * package's resources/ folder, before the dialogs' own scripts.
 *
 * Each node's runtime exports the values it uses for settings a saved flow lacks, and the version a dialog saves at
 * (nodes/shared/migrations: RED.settings.<type in camelCase>SavedConfig).
 */
window.WhatsAppGdprEditor = window.WhatsAppGdprEditor || {
  /**
   * A flow saved without some settings (an older version, written by hand) runs with the runtime's values for them:
   * the dialog shows those, so that Done saves what runs. `inputPrefix` is '#node-input-' or '#node-config-input-'.
   */
  showRuntimeDefaults: (node, settingName, inputPrefix) => {
    var runtime = RED.settings[settingName] || { defaults: {} };
    Object.keys(runtime.defaults).forEach((key) => {
      var value = runtime.defaults[key];
      var input = $(inputPrefix + key);
      if ((node[key] !== undefined && node[key] !== null && node[key] !== '') || typeof value === 'object') return;
      if (input.is(':checkbox')) input.prop('checked', value === true);
      else input.val(value);
    });
  },

  /**
   * A text the node sends as a message may be at most `max` characters (WhatsApp's limit for a text body is 4096, for
   * an interactive one 1024). The dialog's fields stop there, but an imported or hand-written flow can hold more: the
   * field then says why it is red. `tooLongKey` is the message's full key in the node's own catalog.
   * Validators take two parameters: Node-RED shows the message a validator returns only for one declaring two (its
   * 3.x form), and takes any text returned by one of a single parameter for valid.
   */
  atMost: (max, tooLongKey) => (v, _opt) => String(v || '').length <= max || RED._(tooLongKey, { max: max }),

  /** An optional text that, when given, holds `placeholder` (where the runtime puts a value) within `max` characters. */
  withPlaceholder: (placeholder, max, messageKey) => (v, _opt) => {
    var text = String(v || '');
    return !text.trim() || (text.length <= max && text.includes(placeholder)) || RED._(messageKey, { max: max });
  },

  /**
   * Every value the runtime's migrations would fill in is written out by the dialog (showRuntimeDefaults): save at
   * the current version, or the runtime would go on migrating the node at each deploy. Never lowers it.
   */
  saveAtCurrentVersion: (node, settingName) => {
    var runtime = RED.settings[settingName];
    if (runtime && runtime.configVersion > (Number(node.configVersion) || 0))
      node.configVersion = runtime.configVersion;
  },
};
