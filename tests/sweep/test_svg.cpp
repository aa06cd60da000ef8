// SPDX-License-Identifier: MIT
// The SVG charts: well-formed XML, one group per series with the right number of drawn points, escaping.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "sweep/svg.hpp"
#include "xml_check.hpp"

namespace {

using namespace srr::sweep;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Svg, NumericChartIsWellFormedWithExpectedSeries) {
  Chart c{"Perplexity <vs> rank & \"more\"", "rank r", "perplexity", {}, {}};
  c.series.push_back({"qer scale=lqer", {4, 8, 16}, {12.0, 10.3, 9.1}, {0.1, 0.0, 0.2}, LineStyle::dashed, ""});
  c.series.push_back({"srr <&>", {4, 8, 16}, {10.0, kNaN, 8.0}, {}, LineStyle::solid, ""});  // NaN is not drawn
  c.series.push_back({"fp32", {4, 16}, {4.48, 4.48}, {}, LineStyle::dotted, ""});
  c.series.push_back({"failed everywhere", {4}, {kNaN}, {}, LineStyle::solid, ""});
  const std::string svg = render_svg(c);
  std::string why;
  EXPECT_TRUE(xml_well_formed(svg, &why)) << why;
  EXPECT_EQ(count(svg, "<g class=\"series\""), 4u);
  EXPECT_EQ(series_points(svg), (std::vector<std::pair<std::string, int>>{
                                    {"qer scale=lqer", 3}, {"srr &lt;&amp;&gt;", 2}, {"fp32", 2}, {"failed everywhere", 0}}));
  EXPECT_EQ(count(svg, "<circle"), 7u);
  EXPECT_EQ(count(svg, "stroke-dasharray"), 4u);  // dashed and dotted lines and their legend entries
  EXPECT_NE(svg.find("Perplexity &lt;vs&gt; rank &amp; &quot;more&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("srr <&>"), std::string::npos);
  // every legend entry is there, drawn or not
  EXPECT_NE(svg.find(">failed everywhere</text>"), std::string::npos);
  // error bars: only positive finite errors draw a line (0.1 and 0.2)
  const std::string series0 = svg.substr(svg.find("data-name=\"qer"), svg.find("data-name=\"srr") - svg.find("data-name=\"qer"));
  EXPECT_EQ(count(series0, "<line"), 2u);
}

TEST(Svg, CategoricalChart) {
  Chart c{"win-rate", "scale", "%", {"identity", "lqer", "qera-approx", "qera-exact"}, {}};
  c.series.push_back({"rank=4", {0, 1, 2, 3}, {80, 85, 90, 95}, {1, 2, 3, 4}, LineStyle::solid, ""});
  c.series.push_back({"rank=8", {0, 1, 2, 3}, {70, kNaN, 60, 65}, {}, LineStyle::solid, ""});
  const std::string svg = render_svg(c);
  std::string why;
  EXPECT_TRUE(xml_well_formed(svg, &why)) << why;
  EXPECT_EQ(series_points(svg), (std::vector<std::pair<std::string, int>>{{"rank=4", 4}, {"rank=8", 3}}));
  for (const char* cat : {">identity<", ">lqer<", ">qera-approx<", ">qera-exact<"})
    EXPECT_NE(svg.find(cat), std::string::npos) << cat;
}

TEST(Svg, DegenerateRangesStillRender) {
  Chart one{"one point", "x", "y", {}, {{"s", {3}, {5}, {}, LineStyle::solid, ""}}};
  Chart empty{"nothing", "x", "y", {}, {}};
  Chart flat{"flat", "x", "y", {}, {{"s", {1, 2}, {0, 0}, {}, LineStyle::solid, ""}}};
  for (const auto& c : {one, empty, flat}) {
    const std::string svg = render_svg(c);
    std::string why;
    EXPECT_TRUE(xml_well_formed(svg, &why)) << c.title << ": " << why;
    EXPECT_EQ(svg.find("nan"), std::string::npos) << c.title;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << c.title;
  }
}

/// data-colour and data-style of every series group, in order.
std::vector<std::pair<std::string, std::string>> series_looks(const std::string& svg) {
  std::vector<std::pair<std::string, std::string>> out;
  static const std::regex group(R"re(<g class="series"[^>]* data-colour="([^"]*)" data-style="([^"]*)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), group); it != std::sregex_iterator(); ++it)
    out.emplace_back((*it)[1], (*it)[2]);
  return out;
}

TEST(Svg, OneColourPerGroupOneStylePerMethod) {
  Chart c{"ppl", "rank", "ppl", {}, {}};
  c.series.push_back({"qer scale=identity", {4, 8}, {9, 8}, {}, LineStyle::dashed, "scale=identity"});
  c.series.push_back({"srr scale=identity", {4, 8}, {8, 7}, {}, LineStyle::solid, "scale=identity"});
  c.series.push_back({"qer scale=qera-exact", {4, 8}, {7, 6}, {}, LineStyle::dashed, "scale=qera-exact"});
  c.series.push_back({"srr scale=qera-exact", {4, 8}, {6, 5}, {}, LineStyle::solid, "scale=qera-exact"});
  c.series.push_back({"fp32", {4, 8}, {4, 4}, {}, LineStyle::dotted, ""});
  const auto looks = series_looks(render_svg(c));
  ASSERT_EQ(looks.size(), 5u);
  EXPECT_EQ(looks[0].first, looks[1].first);  // a pair shares its colour ...
  EXPECT_EQ(looks[2].first, looks[3].first);
  EXPECT_NE(looks[0].first, looks[2].first);  // ... and the scales differ
  EXPECT_NE(looks[4].first, looks[0].first);
  EXPECT_NE(looks[4].first, looks[2].first);
  EXPECT_EQ(looks[0].second, "dashed");
  EXPECT_EQ(looks[1].second, "solid");
  EXPECT_EQ(looks[4].second, "dotted");
}

TEST(Svg, HeatmapHasOneCellPerValue) {
  Heatmap m{"k* <per> layer", "layer", "setting", "k*", {"srr rank=4", "srr rank=8 & more"}, {"0.q", "0.k", "0.v"},
            {{0, 2, 4}, {8, kNaN, 3}}};
  const std::string svg = render_heatmap_svg(m);
  std::string why;
  EXPECT_TRUE(xml_well_formed(svg, &why)) << why;
  EXPECT_EQ(count(svg, "<rect class=\"cell\""), 6u);
  static const std::regex cell(R"re(<rect class="cell" data-row="(\d+)" data-col="(\d+)" data-value="([^"]*)")re");
  std::vector<std::string> values;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it)
    values.push_back((*it)[1].str() + "," + (*it)[2].str() + "=" + (*it)[3].str());
  EXPECT_EQ(values, (std::vector<std::string>{"0,0=0", "0,1=2", "0,2=4", "1,0=8", "1,1=nan", "1,2=3"}));
  EXPECT_NE(svg.find("srr rank=8 &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"#08306b\""), std::string::npos);  // the largest value is the darkest cell
  EXPECT_NE(svg.find("fill=\"#bbbbbb\""), std::string::npos);  // the missing one is grey
}

TEST(Svg, CheckerRejectsBrokenXml) {
  std::string why;
  EXPECT_FALSE(xml_well_formed("<svg><g></svg>", &why));
  EXPECT_FALSE(xml_well_formed("<svg a=\"1 & 2\"/>", &why));
  EXPECT_FALSE(xml_well_formed("<svg>a < b</svg>", &why));
  EXPECT_FALSE(xml_well_formed("<svg/><svg/>", &why));
  EXPECT_TRUE(xml_well_formed("<?xml version=\"1.0\"?>\n<svg x='1'><g>&amp;<br/></g></svg>\n", &why)) << why;
}

}  // namespace
