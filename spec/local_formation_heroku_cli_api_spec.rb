require "json"
require "net/http"

# What the local formation serves beyond the formation schema's basics, as
# the real API does and Heroku's CLI relies on: quantities as strings,
# absolute and relative; dyno sizes and Heroku's scaling limits; the app,
# the account and the dynos; Range pagination; ETags.
RSpec.describe "the local formation, as Heroku's CLI sees it" do
  accept = "application/vnd.heroku+json; version=3"

  let(:token) { "cli-api-token-9d41" }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: %w[clock web worker urgent mailer].to_h { |type| [type, 0] }) }
  let(:base_headers) { { "Accept" => accept, "Authorization" => "Bearer #{token}", "Content-Type" => "application/json" } }

  def call(method, path, body: nil, headers: {})
    request = Net::HTTP.const_get(method.capitalize).new(path, base_headers.merge(headers))
    request.body = JSON.generate(body) unless body.nil?
    Net::HTTP.start("127.0.0.1", heroku.port) { |http| http.request(request) }
  end

  def json(response) = [response.code.to_i, JSON.parse(response.body)]

  def scale(updates) = json(call(:patch, "/apps/example/formation", body: { "updates" => updates }))

  it "takes quantities as strings, absolute and relative, never below 0, alone or in a batch" do
    expect(scale([{ "type" => "worker", "quantity" => "3" }]).first).to eq(200)
    expect(scale([{ "type" => "worker", "quantity" => "+2" }, { "type" => "web", "quantity" => "-1" }]).first).to eq(200)
    expect(heroku.quantities).to include("worker" => 5, "web" => 0)

    expect(json(call(:patch, "/apps/example/formation/worker", body: { "quantity" => "-7" }))).to match([200, include("quantity" => 0)])
  end

  it "accepts the sdk variant of the version header, and no other" do
    expect(call(:get, "/apps/example", headers: { "Accept" => "#{accept}.sdk" }).code).to eq("200")
    expect(json(call(:get, "/apps/example", headers: { "Accept" => "#{accept}.other" }))).to match([400, include("id" => "bad_request")])
  end

  it "keeps a size's canonical name, given in any case or by id, and refuses sizes Heroku has not" do
    performance = MiddleManagement::LocalFormation::DynoSizes.id("Performance-L")
    resized = scale([{ "type" => "web", "size" => "standard-2x" }, { "type" => "worker", "dyno_size" => { "id" => performance } }])
    expect(resized).to match([200, [include("size" => "Standard-2X"),
                                    include("size" => "Performance-L", "dyno_size" => { "id" => performance, "name" => "Performance-L" })]])

    code, error = scale([{ "type" => "worker", "quantity" => "1", "size" => "Standard-3X" }])
    expect([code, error["id"]]).to eq([422, "invalid_params"])
    expect(error["message"]).to start_with("No such size as Standard-3X. Available dyno sizes are Eco, Basic, Standard-1X, Standard-2X,")
    expect(heroku.quantity("worker")).to eq(0)
  end

  it "refuses more than 10 Performance or 1 Eco dynos of a type, and 100 dynos in all, changing nothing" do
    expect(scale([{ "type" => "worker", "quantity" => 11, "size" => "Performance-M" }]))
      .to eq([422, { "id" => "cannot_update_above_limit", "limit" => 10,
                     "message" => "Cannot update to more than 10 Performance-M size dynos per process type." }])
    expect(scale([{ "type" => "clock", "quantity" => 2, "size" => "Eco" }]).dig(1, "message"))
      .to eq("Cannot update to more than 1 Eco size dynos per process type.")
    expect(scale([{ "type" => "worker", "quantity" => 60 }, { "type" => "urgent", "quantity" => 40 }]).first).to eq(200)

    expect(scale([{ "type" => "web", "quantity" => "+1" }]))
      .to eq([422, { "id" => "cannot_update_above_limit", "limit" => 100,
                     "message" => "Cannot update to more than 100 dynos across all process types." }])
    expect(heroku.quantities).to include("web" => 0, "worker" => 60, "urgent" => 40)
    expect(heroku.formation.find("worker").size).to eq("Standard-1X")
  end

  it "serves the app by name or id, its owner's account, and the dynos the formation implies" do
    app = json(call(:get, "/apps/#{heroku.app_id}"))
    expect(app).to match([200, include("id" => heroku.app_id, "name" => "example", "stack" => include("name" => "heroku-24"),
                                       "region" => include("name" => "us"), "space" => nil)])
    expect(json(call(:get, "/account"))).to match([200, include("id" => app.dig(1, "owner", "id"))])
    expect(json(call(:get, "/apps/elsewhere")).first).to eq(404)

    scale([{ "type" => "worker", "quantity" => 2 }])
    code, dynos = json(call(:get, "/apps/example/dynos"))
    expect([code, dynos.map { |dyno| [dyno["name"], dyno["type"], dyno["state"], dyno["size"]] }.sort])
      .to eq([200, [["worker.1", "worker", "up", "Standard-1X"], ["worker.2", "worker", "up", "Standard-1X"]]])
  end

  it "pages lists by Range, 206 with Next-Range while more remain, as Heroku's CLI follows them" do
    pages = []
    range = "type ..; max=2"
    loop do
      response = call(:get, "/apps/example/formation", headers: { "Range" => range })
      pages << [response.code, JSON.parse(response.body).map { |process| process["type"] }, response["Content-Range"]]
      expect(response["Accept-Ranges"]).to eq("id, type")
      break unless (range = response["Next-Range"])
    end

    expect(pages).to eq([["206", %w[clock mailer], "type clock..mailer"], ["206", %w[urgent web], "type urgent..web"],
                         ["200", %w[worker], "type worker..worker"]])
    expect(JSON.parse(call(:get, "/apps/example/formation", headers: { "Range" => "type ]urgent..; order=desc" }).body)
      .map { |process| process["type"] }).to eq(%w[mailer clock])
    expect(call(:get, "/apps/example/formation", headers: { "Range" => "id ..; max=1000" }).code).to eq("200")
    expect(json(call(:get, "/apps/example/formation", headers: { "Range" => "quantity .." })))
      .to match([416, include("id" => "requested_range_not_satisfiable")])
  end

  it "tags answers with an ETag, and answers 304 with no body to a GET that names it until the formation changes" do
    first = call(:get, "/apps/example/formation/worker")
    etag = first["ETag"]
    expect(etag).to match(/\A"\h{32}"\z/)

    unchanged = call(:get, "/apps/example/formation/worker", headers: { "If-None-Match" => "W/#{etag}" })
    expect([unchanged.code, unchanged.body.to_s, unchanged["ETag"]]).to eq(["304", "", etag])
    scale([{ "type" => "worker", "quantity" => 1 }])
    changed = call(:get, "/apps/example/formation/worker", headers: { "If-None-Match" => etag })
    expect([changed.code, changed["ETag"] == etag]).to eq(["200", false])
  end
end
