#include "ModuleDescription.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <expat.h>

#include "ima/Error.h"

#include "ArgumentParser.h"  // parseDouble, parseInt

namespace ima::slicer {
namespace {

// A minimal element tree built with expat: enough for the execution model's flat schema.
struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // character data directly inside (CDATA included)
  std::vector<std::unique_ptr<XmlElement>> children;

  const XmlElement* child(const std::string& n) const {
    for (const auto& c : children)
      if (c->name == n) return c.get();
    return nullptr;
  }
  std::string childText(const std::string& n) const;
};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string XmlElement::childText(const std::string& n) const {
  const XmlElement* c = child(n);
  return c ? trim(c->text) : "";
}

struct TreeBuilder {
  std::unique_ptr<XmlElement> root;
  std::vector<XmlElement*> open;
};

extern "C" void onStart(void* data, const XML_Char* name, const XML_Char** attributes) {
  auto* b = static_cast<TreeBuilder*>(data);
  auto element = std::make_unique<XmlElement>();
  element->name = name;
  for (int i = 0; attributes[i]; i += 2) element->attributes[attributes[i]] = attributes[i + 1];
  XmlElement* raw = element.get();
  if (b->open.empty())
    b->root = std::move(element);
  else
    b->open.back()->children.push_back(std::move(element));
  b->open.push_back(raw);
}

extern "C" void onEnd(void* data, const XML_Char*) { static_cast<TreeBuilder*>(data)->open.pop_back(); }

extern "C" void onText(void* data, const XML_Char* text, int length) {
  auto* b = static_cast<TreeBuilder*>(data);
  if (!b->open.empty()) b->open.back()->text.append(text, static_cast<size_t>(length));
}

std::unique_ptr<XmlElement> parseXml(const std::string& xml) {
  TreeBuilder builder;
  XML_Parser parser = XML_ParserCreate("UTF-8");
  if (!parser) throw Error("module description: cannot create an XML parser");
  XML_SetUserData(parser, &builder);
  XML_SetElementHandler(parser, onStart, onEnd);
  XML_SetCharacterDataHandler(parser, onText);
  const bool ok = XML_Parse(parser, xml.data(), static_cast<int>(xml.size()), 1) == XML_STATUS_OK;
  std::string error;
  if (!ok)
    error = std::string(XML_ErrorString(XML_GetErrorCode(parser))) + " at line " +
            std::to_string(XML_GetCurrentLineNumber(parser));
  XML_ParserFree(parser);
  if (!ok) throw Error("module description: malformed XML: " + error);
  return std::move(builder.root);
}

// Parameter kinds of the execution model that these modules use or may use.
const std::set<std::string> kParameterTags = {
    "integer", "float", "double", "boolean", "string",
    "integer-vector", "float-vector", "double-vector", "string-vector",
    "integer-enumeration", "float-enumeration", "double-enumeration", "string-enumeration",
    "file", "directory", "image", "geometry", "point", "region", "transform", "table"};

ModuleParameter parseParameter(const XmlElement& e) {
  ModuleParameter p;
  p.tag = e.name;
  p.name = e.childText("name");
  if (p.name.empty()) throw Error("module description: a <" + e.name + "> parameter has no <name>");
  const std::string where = "module description: parameter '" + p.name + "'";
  p.label = e.childText("label");
  p.description = e.childText("description");
  p.flag = e.childText("flag");
  if (!p.flag.empty() && p.flag[0] != '-') p.flag = "-" + p.flag;
  p.longflag = e.childText("longflag");
  if (!p.longflag.empty() && p.longflag.rfind("--", 0) != 0) p.longflag = "--" + p.longflag;
  p.defaultValue = e.childText("default");
  p.channel = e.childText("channel");
  if (const auto t = e.attributes.find("type"); t != e.attributes.end()) p.type = t->second;
  if (const XmlElement* index = e.child("index")) {
    const auto v = cli::parseInt(trim(index->text));
    if (!v || *v < 0) throw Error(where + ": <index> must be a non-negative integer");
    p.index = static_cast<int>(*v);
  }
  for (const auto& c : e.children)
    if (c->name == "element") p.elements.push_back(trim(c->text));
  if (const XmlElement* constraints = e.child("constraints")) {
    for (const char* bound : {"minimum", "maximum"}) {
      const std::string text = constraints->childText(bound);
      if (text.empty()) continue;
      const auto v = cli::parseDouble(text);
      if (!v) throw Error(where + ": <" + bound + "> '" + text + "' is not a number");
      (std::string(bound) == "minimum" ? p.minimum : p.maximum) = *v;
    }
  }
  if (p.channel != "" && p.channel != "input" && p.channel != "output")
    throw Error(where + ": <channel> must be input or output");
  if (p.index >= 0 && p.channel.empty()) throw Error(where + ": an indexed parameter needs a <channel>");
  if (p.index >= 0 && p.isFlagged()) throw Error(where + ": has both an <index> and a flag");
  if (!p.isFlagged() && p.index < 0 && p.channel != "output")
    throw Error(where + ": needs a <flag>, <longflag> or <index> (only return parameters have none)");
  if (p.isEnumeration()) {
    if (p.elements.empty()) throw Error(where + ": an enumeration needs <element>s");
    if (std::find(p.elements.begin(), p.elements.end(), p.defaultValue) == p.elements.end())
      throw Error(where + ": default '" + p.defaultValue + "' is not one of its <element>s");
  }
  return p;
}

}  // namespace

bool ModuleParameter::isEnumeration() const {
  return tag.size() > 12 && tag.compare(tag.size() - 12, 12, "-enumeration") == 0;
}

bool ModuleParameter::isVector() const { return tag.size() > 7 && tag.compare(tag.size() - 7, 7, "-vector") == 0; }

ModuleDescription ModuleDescription::parse(const std::string& xml) {
  const std::unique_ptr<XmlElement> root = parseXml(xml);
  if (!root || root->name != "executable")
    throw Error("module description: the root element is <" + (root ? root->name : std::string()) +
                ">, expected <executable>");
  ModuleDescription d;
  d.category = root->childText("category");
  d.title = root->childText("title");
  d.description = root->childText("description");
  d.version = root->childText("version");
  d.documentationUrl = root->childText("documentation-url");
  d.license = root->childText("license");
  d.contributor = root->childText("contributor");
  d.acknowledgements = root->childText("acknowledgements");
  if (d.title.empty()) throw Error("module description: <title> is missing");

  std::set<std::string> names, flags;
  std::vector<int> indices;
  for (const auto& g : root->children) {
    if (g->name != "parameters") continue;
    ParameterGroup group;
    group.label = g->childText("label");
    group.description = g->childText("description");
    const auto advanced = g->attributes.find("advanced");
    group.advanced = advanced != g->attributes.end() && advanced->second == "true";
    for (const auto& e : g->children) {
      if (e->name == "label" || e->name == "description") continue;
      if (!kParameterTags.count(e->name))
        throw Error("module description: unknown parameter kind <" + e->name + "> in group '" + group.label + "'");
      ModuleParameter p = parseParameter(*e);
      if (!names.insert(p.name).second) throw Error("module description: parameter '" + p.name + "' is declared twice");
      for (const std::string& f : {p.flag, p.longflag})
        if (!f.empty() && !flags.insert(f).second)
          throw Error("module description: flag '" + f + "' of parameter '" + p.name + "' is used twice");
      if (p.index >= 0) indices.push_back(p.index);
      group.parameters.push_back(std::move(p));
    }
    d.groups.push_back(std::move(group));
  }
  std::sort(indices.begin(), indices.end());
  for (size_t i = 0; i < indices.size(); ++i)
    if (indices[i] != static_cast<int>(i))
      throw Error("module description: the <index> values must be 0.." + std::to_string(indices.size() - 1));
  return d;
}

std::vector<const ModuleParameter*> ModuleDescription::parameters() const {
  std::vector<const ModuleParameter*> all;
  for (const auto& g : groups)
    for (const auto& p : g.parameters) all.push_back(&p);
  return all;
}

const ModuleParameter* ModuleDescription::find(const std::string& name) const {
  for (const ModuleParameter* p : parameters())
    if (p->name == name) return p;
  return nullptr;
}

std::string ModuleDescription::usage(const std::string& program) const {
  std::vector<const ModuleParameter*> positional;
  for (const ModuleParameter* p : parameters())
    if (p->index >= 0) positional.push_back(p);
  std::sort(positional.begin(), positional.end(), [](auto* a, auto* b) { return a->index < b->index; });

  std::ostringstream s;
  s << "usage: " << program << " [options]";
  for (const ModuleParameter* p : positional) s << " " << p->name;
  s << "\n\n" << title << ": " << description << "\n\n";
  for (const ModuleParameter* p : positional) s << "  " << p->name << "  " << p->description << "\n";
  for (const auto& g : groups) {
    bool any = false;
    for (const auto& p : g.parameters) {
      if (!p.isFlagged()) continue;
      if (!any) s << "\n" << g.label << (g.advanced ? " (advanced)" : "") << ":\n";
      any = true;
      s << "  " << p.flag << (!p.flag.empty() && !p.longflag.empty() ? ", " : "") << p.longflag;
      if (!p.isBoolean()) s << " " << (p.isEnumeration() ? "{" : "<");
      if (p.isEnumeration())
        for (size_t i = 0; i < p.elements.size(); ++i) s << (i ? "|" : "") << p.elements[i];
      else if (!p.isBoolean())
        s << p.tag;
      if (!p.isBoolean()) s << (p.isEnumeration() ? "}" : ">");
      s << "  " << p.description;
      if (!p.defaultValue.empty() && !p.isBoolean()) s << " (default: " << p.defaultValue << ")";
      s << "\n";
    }
  }
  s << "\nAlso: --xml (print the module description), --returnparameterfile FILE (write the computed\n"
       "values as 'name = value' lines), --help, --version.\n";
  return s.str();
}

}  // namespace ima::slicer
