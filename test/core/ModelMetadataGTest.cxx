// Model metadata JSON: the SNOMED CT category/type codes of labels (what a DICOM SEG writes),
// read from JSON written by hand in dcmqi's form and kept through a round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/ModelMetadata.h"

namespace ModelMetadataGTest {  // this file's names apart from the others' in a unity build

namespace {

TEST(ModelMetadata, LabelCodesFromHandWrittenJsonSurviveARoundTrip) {
  auto json = nlohmann::json::parse(imatest::tinyUNetMetadata(3).toJson());
  json["labels"][0]["category"] = {
      {"CodeValue", "123037004"}, {"CodingSchemeDesignator", "SCT"}, {"CodeMeaning", "Anatomical Structure"}};
  json["labels"][0]["type"] = {{"CodeValue", "10200004"}, {"CodingSchemeDesignator", "SCT"}, {"CodeMeaning", "Liver"}};
  const auto m = ima::ModelMetadata::fromJson(json.dump(), "hand.json");
  ASSERT_EQ(m.labels.size(), 2u);
  EXPECT_EQ(m.labels[0].category, (ima::CodedConcept{"123037004", "SCT", "Anatomical Structure"}));
  EXPECT_EQ(m.labels[0].type, (ima::CodedConcept{"10200004", "SCT", "Liver"}));
  EXPECT_TRUE(m.labels[1].category.empty());
  EXPECT_TRUE(m.labels[1].type.empty());

  const auto back = ima::ModelMetadata::fromJson(m.toJson(), "round trip");
  EXPECT_EQ(back.labels[0].category, m.labels[0].category);
  EXPECT_EQ(back.labels[0].type, m.labels[0].type);
  EXPECT_EQ(back.toJson(), m.toJson());
  // Labels without codes are written without them (files stay as they were before codes existed).
  const auto written = nlohmann::json::parse(m.toJson());
  EXPECT_FALSE(written["labels"][1].contains("category"));
  EXPECT_FALSE(written["labels"][1].contains("type"));
  EXPECT_EQ(written["labels"][0]["type"]["CodeMeaning"], "Liver");
}

TEST(ModelMetadata, IncompleteLabelCodeIsNamed) {
  auto json = nlohmann::json::parse(imatest::tinyUNetMetadata(2).toJson());
  json["labels"][1]["type"] = {{"CodeValue", "10200004"}, {"CodeMeaning", "Liver"}};  // no scheme
  try {
    ima::ModelMetadata::fromJson(json.dump(), "model.json");
    FAIL() << "no error";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.json: label 2 type needs a non-empty CodeValue, CodingSchemeDesignator"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace

}  // namespace ModelMetadataGTest
