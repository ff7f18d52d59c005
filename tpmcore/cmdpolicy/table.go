package cmdpolicy

import "github.com/google/go-tpm/tpm2"

// rule is what the table says of one command for callers without admin
// rights. Below rm_policy=open a command runs only if its level allows it
// and every handle in its handle area is of a class it may name: hierarchy
// handles there are authorisations (Part 3), so may lists the hierarchies
// whose authorisation the command may use. TPM_RH_NULL and handles that
// carry their own authorisation (objects, NV indices, sessions) are
// always fine.
type rule struct {
	name             string // as in TPM2_CC_<name>
	standard, strict verdict
	may              class
	why              string
}

// Reasons shared by many allowed commands.
const (
	whyRead    = "reads TPM state or computes; changes nothing"
	whyOwn     = "works on the caller's own transient objects, which the resource manager keeps private and flushes"
	whyPolicy  = "extends the caller's own policy session"
	whyContext = "saves, loads or flushes the caller's own contexts (the resource manager translates and checks them)"
)

// Command codes of the TPM 2.0 library 1.59 and later that go-tpm does
// not name (Part 2, table 12).
const (
	ccECCEncrypt          = 0x199
	ccECCDecrypt          = 0x19A
	ccPolicyCapability    = 0x19B
	ccPolicyParameters    = 0x19C
	ccNVDefineSpace2      = 0x19D
	ccNVReadPublic2       = 0x19E
	ccSetCapability       = 0x19F
	ccReadOnlyControl     = 0x1A0
	ccPolicyTransportSPDM = 0x1A1
	ccVendorTCGTest       = 0x20000000
)

func cc(c tpm2.TPMCC) uint32 { return uint32(c) }

// table is the policy, by command code. A command missing here is refused
// below open.
var table = map[uint32]rule{
	// Refused: they change or deny the TPM for every user.
	cc(tpm2.TPMCCClear):                      {"Clear", deny, deny, 0, "erases the owner and endorsement hierarchies: every user's keys, NV indices and persistent objects"},
	cc(tpm2.TPMCCClearControl):               {"ClearControl", deny, deny, 0, "enables or disables TPM2_Clear for the administrator"},
	cc(tpm2.TPMCCHierarchyControl):           {"HierarchyControl", deny, deny, 0, "disables a hierarchy for everyone until the next reboot"},
	cc(tpm2.TPMCCHierarchyChanegAuth):        {"HierarchyChangeAuth", deny, deny, 0, "changes a hierarchy's secret, locking everyone else out of it"},
	cc(tpm2.TPMCCSetPrimaryPolicy):           {"SetPrimaryPolicy", deny, deny, 0, "changes a hierarchy's authorisation policy"},
	cc(tpm2.TPMCCChangeEPS):                  {"ChangeEPS", deny, deny, 0, "replaces the endorsement seed: the EK and its certificate no longer match"},
	cc(tpm2.TPMCCChangePPS):                  {"ChangePPS", deny, deny, 0, "replaces the platform seed"},
	cc(tpm2.TPMCCDictionaryAttackLockReset):  {"DictionaryAttackLockReset", deny, deny, 0, "uses the lockout authorisation, whose failures lock it out for everyone"},
	cc(tpm2.TPMCCDictionaryAttackParameters): {"DictionaryAttackParameters", deny, deny, 0, "changes the dictionary-attack limits for every user"},
	cc(tpm2.TPMCCEvictControl):               {"EvictControl", deny, deny, 0, "makes an object persistent or removes a persistent one, such as the SRK others use"},
	cc(tpm2.TPMCCNVDefineSpace):              {"NV_DefineSpace", deny, deny, 0, "defines an NV index with owner or platform authorisation, using NV space shared by all"},
	ccNVDefineSpace2:                         {"NV_DefineSpace2", deny, deny, 0, "defines an NV index with owner or platform authorisation, using NV space shared by all"},
	cc(tpm2.TPMCCNVUndefineSpace):            {"NV_UndefineSpace", deny, deny, 0, "deletes an NV index (with owner or platform authorisation), which may be another user's or hold an EK certificate"},
	cc(tpm2.TPMCCNVUndefineSpaceSpecial):     {"NV_UndefineSpaceSpecial", deny, deny, 0, "deletes a platform NV index"},
	cc(tpm2.TPMCCNVGlobalWriteLock):          {"NV_GlobalWriteLock", deny, deny, 0, "write-locks every NV index that allows it, for everyone"},
	cc(tpm2.TPMCCClockSet):                   {"ClockSet", deny, deny, 0, "moves the TPM clock that time-based policies of all users read"},
	cc(tpm2.TPMCCClockRateAdjust):            {"ClockRateAdjust", deny, deny, 0, "changes the rate of the TPM clock"},
	cc(tpm2.TPMCCFieldUpgradeStart):          {"FieldUpgradeStart", deny, deny, 0, "starts a firmware upgrade, during which the TPM serves no one"},
	cc(tpm2.TPMCCFieldUpgradeData):           {"FieldUpgradeData", deny, deny, 0, "loads firmware into the TPM"},
	cc(tpm2.TPMCCSetCommandCodeAuditStatus):  {"SetCommandCodeAuditStatus", deny, deny, 0, "changes which commands the TPM audits"},
	cc(tpm2.TPMCCPPCommands):                 {"PP_Commands", deny, deny, 0, "changes which commands need physical presence"},
	cc(tpm2.TPMCCSetAlgorithmSet):            {"SetAlgorithmSet", deny, deny, 0, "changes the algorithms the TPM offers"},
	ccSetCapability:                          {"SetCapability", deny, deny, 0, "changes a TPM setting with platform authorisation"},
	ccReadOnlyControl:                        {"ReadOnlyControl", deny, deny, 0, "puts the TPM into read-only mode for everyone"},
	cc(tpm2.TPMCCPCRAllocate):                {"PCR_Allocate", deny, deny, 0, "changes the active PCR banks at the next reboot"},
	cc(tpm2.TPMCCPCRSetAuthPolicy):           {"PCR_SetAuthPolicy", deny, deny, 0, "changes who may extend or reset a PCR"},
	cc(tpm2.TPMCCPCRSetAuthValue):            {"PCR_SetAuthValue", deny, deny, 0, "changes who may extend or reset a PCR"},
	cc(tpm2.TPMCCPCRExtend):                  {"PCR_Extend", deny, deny, 0, "changes a PCR for every user (their sealed secrets and quotes depend on it); extend through pcrs/, whose mode pcr_mode= sets"},
	cc(tpm2.TPMCCPCREvent):                   {"PCR_Event", deny, deny, 0, "changes a PCR for every user; measure through pcrs/NN, whose mode pcr_mode= sets"},
	cc(tpm2.TPMCCPCRReset):                   {"PCR_Reset", deny, deny, 0, "resets a PCR that others may have measured into"},
	cc(tpm2.TPMCCShutdown):                   {"Shutdown", deny, deny, 0, "the TPM's power sequence belongs to tpmfs and the platform"},
	cc(tpm2.TPMCCACTSetTimeout):              {"ACT_SetTimeout", deny, deny, 0, "arms an authenticated countdown timer, which may act on the platform"},
	cc(tpm2.TPMCCACSend):                     {"AC_Send", deny, deny, 0, "sends an object to an attached component outside the TPM"},
	ccVendorTCGTest:                          {"Vendor_TCG_Test", deny, deny, 0, "a test command of the reference implementation"},

	// Allowed with some hierarchy authorisations: these only create or read.
	cc(tpm2.TPMCCCreatePrimary):           {"CreatePrimary", allow, allow, owner | endorsement, "creates a transient primary key (the SRK of tpm2_createprimary and systemd, the EK of tpm2_createek); nothing persists, and the platform hierarchy stays the firmware's"},
	cc(tpm2.TPMCCCreateLoaded):            {"CreateLoaded", allow, allow, owner | endorsement, "creates a transient key, a primary one under the owner or endorsement hierarchy; nothing persists"},
	cc(tpm2.TPMCCNVRead):                  {"NV_Read", allow, allow, owner, "reads an NV index (EK certificates), with its own or the owner's authorisation"},
	cc(tpm2.TPMCCNVCertify):               {"NV_Certify", allow, allow, owner, "signs the contents of an NV index, read with its own or the owner's authorisation"},
	cc(tpm2.TPMCCPolicyNV):                {"PolicyNV", allow, allow, owner, "compares an NV index, read with its own or the owner's authorisation, into the caller's policy session"},
	cc(tpm2.TPMCCPolicyAuthorizeNV):       {"PolicyAuthorizeNV", allow, allow, owner, "reads a policy from an NV index into the caller's policy session"},
	cc(tpm2.TPMCCPolicySecret):            {"PolicySecret", allow, allow, owner | endorsement, "proves knowledge of a secret into the caller's policy session (the EK's policy, tpm2_activatecredential); lockout and platform stay refused"},
	cc(tpm2.TPMCCGetTime):                 {"GetTime", allow, allow, endorsement, "signs the TPM clock; the endorsement hierarchy authorises privacy, nothing changes"},
	cc(tpm2.TPMCCGetCommandAuditDigest):   {"GetCommandAuditDigest", allow, allow, endorsement, "signs the command audit digest; the endorsement hierarchy authorises privacy, nothing changes"},
	cc(tpm2.TPMCCGetSessionAuditDigest):   {"GetSessionAuditDigest", allow, allow, endorsement, "signs a session's audit digest; the endorsement hierarchy authorises privacy, nothing changes"},
	cc(tpm2.TPMCCStartAuthSession):        {"StartAuthSession", allow, allow, anyHierarchy, "starts one of the caller's sessions; a hierarchy named as bind only keys the session and authorises nothing"},
	cc(tpm2.TPMCCEventSequenceComplete):   {"EventSequenceComplete", allow, allow, 0, "ends the caller's event sequence; with a PCR handle (not TPM_RH_NULL) it would extend that PCR, which is refused"},
	cc(tpm2.TPMCCNVWrite):                 {"NV_Write", allow, deny, 0, "writes an NV index with the index's own authorisation, which its owner gave out (owner or platform authorisation is refused)"},
	cc(tpm2.TPMCCNVIncrement):             {"NV_Increment", allow, deny, 0, "counts up an NV index with the index's own authorisation (owner or platform authorisation is refused)"},
	cc(tpm2.TPMCCNVExtend):                {"NV_Extend", allow, deny, 0, "extends an NV index with the index's own authorisation (owner or platform authorisation is refused)"},
	cc(tpm2.TPMCCNVSetBits):               {"NV_SetBits", allow, deny, 0, "sets bits of an NV index with the index's own authorisation (owner or platform authorisation is refused)"},
	cc(tpm2.TPMCCNVWriteLock):             {"NV_WriteLock", allow, deny, 0, "write-locks an NV index with the index's own authorisation (owner or platform authorisation is refused)"},
	cc(tpm2.TPMCCNVReadLock):              {"NV_ReadLock", allow, deny, 0, "read-locks an NV index with the index's own authorisation (owner or platform authorisation is refused)"},
	cc(tpm2.TPMCCNVChangeAuth):            {"NV_ChangeAuth", allow, deny, 0, "changes an NV index's secret under the index's own admin policy"},
	cc(tpm2.TPMCCSelfTest):                {"SelfTest", allow, deny, 0, "tests the TPM, which answers TESTING to everyone meanwhile"},
	cc(tpm2.TPMCCIncrementalSelfTest):     {"IncrementalSelfTest", allow, deny, 0, "tests algorithms, which keeps the TPM busy for everyone meanwhile"},
	cc(tpm2.TPMCCFirmwareRead):            {"FirmwareRead", allow, deny, 0, "reads the TPM firmware image, a long vendor operation"},
	cc(tpm2.TPMCCStartup):                 {"Startup", allow, allow, 0, "TSSs (systemd, tpm2-tools) send it first and expect TPM_RC_INITIALIZE; the TPM takes it only after power-on, when tpmfs would send it too"},
	cc(tpm2.TPMCCContextSave):             {"ContextSave", allow, allow, 0, whyContext},
	cc(tpm2.TPMCCContextLoad):             {"ContextLoad", allow, allow, 0, whyContext},
	cc(tpm2.TPMCCFlushContext):            {"FlushContext", allow, allow, 0, whyContext},
	cc(tpm2.TPMCCCreate):                  {"Create", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCLoad):                    {"Load", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCLoadExternal):            {"LoadExternal", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCImport):                  {"Import", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCDuplicate):               {"Duplicate", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCRewrap):                  {"Rewrap", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCObjectChangeAuth):        {"ObjectChangeAuth", allow, allow, 0, "returns a new private part for a key; the loaded or persistent key itself is unchanged"},
	cc(tpm2.TPMCCUnseal):                  {"Unseal", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCSign):                    {"Sign", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCCertify):                 {"Certify", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCCertifyCreation):         {"CertifyCreation", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCCertifyX509):             {"CertifyX509", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCQuote):                   {"Quote", allow, allow, 0, "signs PCR values with the caller's key; reads them only"},
	cc(tpm2.TPMCCActivateCredential):      {"ActivateCredential", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCRSADecrypt):              {"RSA_Decrypt", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCECDHZGen):                {"ECDH_ZGen", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCECDHKeyGen):              {"ECDH_KeyGen", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCZGen2Phase):              {"ZGen_2Phase", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCCommit):                  {"Commit", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCECEphemeral):             {"EC_Ephemeral", allow, allow, 0, whyOwn},
	ccECCEncrypt:                          {"ECC_Encrypt", allow, allow, 0, whyOwn},
	ccECCDecrypt:                          {"ECC_Decrypt", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCEncryptDecrypt):          {"EncryptDecrypt", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCEncryptDecrypt2):         {"EncryptDecrypt2", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCMAC):                     {"HMAC", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCMACStart):                {"HMAC_Start", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCHashSequenceStart):       {"HashSequenceStart", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCSequenceUpdate):          {"SequenceUpdate", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCSequenceComplete):        {"SequenceComplete", allow, allow, 0, whyOwn},
	cc(tpm2.TPMCCRSAEncrypt):              {"RSA_Encrypt", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCVerifySignature):         {"VerifySignature", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCMakeCredential):          {"MakeCredential", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCHash):                    {"Hash", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCGetCapability):           {"GetCapability", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCGetRandom):               {"GetRandom", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCStirRandom):              {"StirRandom", allow, allow, 0, "adds entropy to the TPM's generator, which can only add to it"},
	cc(tpm2.TPMCCGetTestResult):           {"GetTestResult", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCTestParms):               {"TestParms", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCECCParameters):           {"ECC_Parameters", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCReadClock):               {"ReadClock", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCPCRRead):                 {"PCR_Read", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCReadPublic):              {"ReadPublic", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCNVReadPublic):            {"NV_ReadPublic", allow, allow, 0, whyRead},
	ccNVReadPublic2:                       {"NV_ReadPublic2", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCACGetCapability):         {"AC_GetCapability", allow, allow, 0, whyRead},
	cc(tpm2.TPMCCPolicySigned):            {"PolicySigned", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyTicket):            {"PolicyTicket", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyOR):                {"PolicyOR", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyPCR):               {"PolicyPCR", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyLocality):          {"PolicyLocality", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyCounterTimer):      {"PolicyCounterTimer", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyCommandCode):       {"PolicyCommandCode", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyPhysicalPresence):  {"PolicyPhysicalPresence", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyCpHash):            {"PolicyCpHash", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyNameHash):          {"PolicyNameHash", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyDuplicationSelect): {"PolicyDuplicationSelect", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyAuthorize):         {"PolicyAuthorize", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyAuthValue):         {"PolicyAuthValue", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyPassword):          {"PolicyPassword", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyGetDigest):         {"PolicyGetDigest", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyNvWritten):         {"PolicyNvWritten", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyTemplate):          {"PolicyTemplate", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyRestart):           {"PolicyRestart", allow, allow, 0, whyPolicy},
	cc(tpm2.TPMCCPolicyACSendSelect):      {"Policy_AC_SendSelect", allow, allow, 0, whyPolicy},
	ccPolicyCapability:                    {"PolicyCapability", allow, allow, 0, whyPolicy},
	ccPolicyParameters:                    {"PolicyParameters", allow, allow, 0, whyPolicy},
	ccPolicyTransportSPDM:                 {"PolicyTransportSPDM", allow, allow, 0, whyPolicy},
}
