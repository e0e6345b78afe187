/**
 * Every registry entry, imported for its side effect (registration).
 * To add a data set, process or network: one import line here.
 */
import "./points.js";
import "./gaussian.js";
import "./mlp.js";
import "./images.js";
import "./text.js";
import "./encode.js";
import "./deletion.js";
